"""Autoregressive generation on a StreamingModel: each output fed back as the next input, in one compiled
loop per chunk of steps."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla

from convert.runtime.mulaw import MU, mu_law_decode


def output_kind(analysis) -> str:
    """'mu-law' for a 256-way softmax over one channel, 'regression' when units == channels."""
    spec = analysis.spec
    units, channels = analysis.tensors[spec.output].channels, spec.inputs[0].channels
    last = spec.layer(spec.output)
    if units == MU + 1 and channels == 1 and last.config.get("activation") == "softmax":
        return "mu-law"
    if units == channels:
        return "regression"
    raise ValueError(f"cannot feed the output back: it has {units} units for {channels} input "
                     "channel(s); generation needs a 256-way softmax over one channel (mu-law) or units == channels")


def generate(stream, steps: int, first=None, seed: int = 0, temperature: float = 1.0, progress=None) -> np.ndarray:
    """Autoregressive samples (batch, steps, C), starting from the stream's current state with input
    `first` (batch, C; default zeros). The same seed and state give the same samples; `progress(n)` is
    told of every chunk done."""
    kind = output_kind(stream.analysis)
    if not (temperature > 0 and np.isfinite(temperature)):
        raise ValueError(f"`temperature` must be a positive finite number; received {temperature}")
    if not 0 <= seed < 2**63:
        raise ValueError(f"`seed` must be in [0, 2**63); received {seed}")
    x = stream._check(np.zeros((stream.batch_size, stream.channels)) if first is None else first, 2)
    loop = _loop(stream, kind)
    # every bit of the seed counts: it picks a 64-bit key, and the step count moves through its counter
    key, counter = (int(w) for w in np.random.SeedSequence(seed).generate_state(2, dtype=np.uint32))
    pieces, done = [], 0
    while done < steps:
        n = min(stream.chunk, steps - done)
        t, rings = stream._state
        words = [key, (counter + done) % 2**32]
        samples, x, t, rings = loop(x, t, rings, tf.constant(n),
                                    tf.constant([w - 2**32 if w >= 2**31 else w for w in words], tf.int32),
                                    tf.constant(temperature, tf.float32))
        stream._state = (t, rings)
        piece = np.transpose(samples.numpy()[:n], [1, 0, 2])
        if not np.all(np.isfinite(piece)):  # never fed back further, never written
            bad = int(np.argmax(~np.all(np.isfinite(piece), axis=(0, 2))))
            raise ValueError(f"the model produced NaN or infinity at generated step {done + bad:,}; generation stopped")
        pieces.append(piece)
        done += n
        if progress:
            progress(n)
    return np.concatenate(pieces, axis=1) if pieces else np.zeros((stream.batch_size, 0, stream.channels), np.float32)


def sample_level(probabilities, u, temperature):
    """Inverse-CDF sampling of a level from (batch, levels) probabilities with one uniform number u in [0, 1)
    per row: the first level whose cumulative weight passes u of the total. Weights are p ** (1 / T) taken
    in log space with the largest subtracted, so a temperature near 0 tends to the most likely level
    instead of underflowing to nothing; a level of probability 0 is never drawn."""
    logits = tf.math.log(probabilities) / temperature
    weights = tf.exp(logits - tf.reduce_max(logits, axis=-1, keepdims=True))
    cdf = tf.cumsum(weights, axis=-1)
    return tf.minimum(tf.reduce_sum(tf.cast(cdf <= u * cdf[:, -1:], tf.int32), axis=-1), MU)


def _loop(stream, kind: str):
    """The compiled generation loop for one output kind, built once per stream."""
    if kind not in stream._generate_graphs:
        batch, channels = stream.batch_size, stream.channels

        def loop(x, t, rings, steps, seed, temperature):
            samples = tf.zeros((stream.chunk, batch, channels))

            def body(i, x, t, rings, samples):
                y, rings = stream._step(x, t, rings)
                if kind == "mu-law":
                    u = tf.random.stateless_uniform((batch, 1), seed + tf.stack([0, i]))
                    x = mu_law_decode(sample_level(y, u, temperature))[:, None]
                else:
                    x = y
                return i + 1, x, t + 1, rings, xla.dynamic_update_slice(samples, x[None], tf.stack([i, 0, 0]))

            _, x, t, rings, samples = tf.while_loop(lambda i, *_: i < steps, body, (0, x, t, rings, samples))
            return samples, x, t, rings

        stream._generate_graphs[kind] = tf.function(loop, jit_compile=True)
    return stream._generate_graphs[kind]
