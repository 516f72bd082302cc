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


def mu_law_decode(levels, mu: int = MU):
    """Levels 0..mu -> samples in [-1, 1] (TensorFlow, usable inside a compiled step)."""
    import tensorflow as tf

    y = 2.0 * tf.cast(levels, tf.float32) / mu - 1.0
    x = tf.sign(y) * (tf.pow(1.0 + mu, tf.abs(y)) - 1.0) / mu
    return tf.clip_by_value(x, -1.0, 1.0)  # XLA's pow is exp(log(.)) and can overshoot 1 by an ulp or so
