"""Mu-law companding of WaveNet's 256-way output: samples in [-1, 1] <-> levels 0..MU."""

from __future__ import annotations

import numpy as np

MU = 255


def mu_law_encode(x, mu: int = MU) -> np.ndarray:
    """Samples in [-1, 1] -> levels 0..mu (NumPy)."""
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.rint((y + 1.0) / 2.0 * mu).astype(np.int64)


def mu_law_encode_tf(x, mu: int = MU):
    """The same in TensorFlow, for tf.data pipelines: float samples -> int32 levels."""
    import tensorflow as tf

    x = tf.clip_by_value(x, -1.0, 1.0)
    y = tf.sign(x) * tf.math.log1p(mu * tf.abs(x)) / np.log1p(mu)
    return tf.cast(tf.round((y + 1.0) / 2.0 * mu), tf.int32)


def decode_table(mu: int = MU) -> np.ndarray:
    """The sample of every level 0..mu (float32, computed in float64): one table, so that generation in
    TensorFlow and an exported step's runner (`convert.deploy.runner`) decode a level to the same float."""
    y = 2.0 * np.arange(mu + 1, dtype=np.float64) / mu - 1.0
    x = np.sign(y) * ((1.0 + mu) ** np.abs(y) - 1.0) / mu
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def mu_law_decode(levels, mu: int = MU):
    """Levels 0..mu -> samples in [-1, 1] (TensorFlow, usable inside a compiled step): `decode_table`'s."""
    import tensorflow as tf

    return tf.gather(tf.constant(decode_table(mu)), tf.cast(levels, tf.int32))
