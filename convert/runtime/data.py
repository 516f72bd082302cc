"""Training data from long signals: tf.data pipelines of (input, target) pairs.

- `sequence_pairs`: random crops of `length` steps with the target shifted one step (target[t] = x[t+1]),
  batched: what the practice model trains on, one prediction per step.
- `window_pairs`: every window of `window` steps with the sample after it: the per-step method's "chunks".

Targets are the next sample itself (`target="next"`) or its mu-law level (`target="mu-law"`, for a
256-way softmax output).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from convert.runtime.mulaw import mu_law_encode_tf
from convert.core.errors import BadValue


def _as_signal(signal) -> np.ndarray:
    signal = np.asarray(signal, np.float32)
    if signal.ndim == 1:
        signal = signal[:, None]
    if signal.ndim != 2:
        raise BadValue(f"a signal is (steps,) or (steps, channels); received shape {signal.shape}")
    return signal


def _target(next_steps, target: str):
    if target == "next":
        return next_steps
    if target == "mu-law":
        return mu_law_encode_tf(next_steps[..., 0])
    raise BadValue(f"`target` must be 'next' or 'mu-law'; received {target!r}")


def sequence_pairs(signal, length: int, batch_size: int, target: str = "next", seed: int | None = None,
                   repeat: bool = True) -> tf.data.Dataset:
    """Batches of (x (batch, length, C), target (batch, length[, C])) from random crops of the signal."""
    signal = _as_signal(signal)
    if len(signal) < length + 1:
        raise BadValue(f"the signal has {len(signal)} steps; crops of {length} need at least {length + 1}")
    source = tf.constant(signal)
    starts = tf.data.Dataset.random(seed=seed).map(lambda r: r % (len(signal) - length))
    if not repeat:
        starts = starts.take(max(1, (len(signal) - 1) // length))

    def crop(start):
        piece = source[start: start + length + 1]
        return piece[:-1], _target(piece[1:], target)

    return starts.map(crop, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True) \
        .prefetch(tf.data.AUTOTUNE)


def window_pairs(signal, window: int, batch_size: int, target: str = "next", shuffle: bool = True,
                 seed: int | None = None) -> tf.data.Dataset:
    """Batches of (windows (batch, window, C), next sample (batch, C) or its level (batch,)): every window."""
    signal = _as_signal(signal)
    count = len(signal) - window
    if count < 1:
        raise BadValue(f"the signal has {len(signal)} steps; a window of {window} needs at least {window + 1}")
    source = tf.constant(signal)
    ends = tf.data.Dataset.range(count)
    if shuffle:
        ends = ends.shuffle(min(count, 100_000), seed=seed)

    def pair(start):
        return source[start: start + window], _target(source[start + window][None], target)[0]

    return ends.map(pair, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True) \
        .prefetch(tf.data.AUTOTUNE)
