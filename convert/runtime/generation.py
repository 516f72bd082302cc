"""Autoregressive generation on a StreamingModel: each output fed back as the next input, in one compiled
loop per chunk of steps, with the other inputs (conditioning) read at every step.

What is fed back is decided from the spec (`output_kind`), never guessed from shapes alone. The fed-back
input is the spec's signal (its first sequence input):

- "mu-law": a softmax over K = 2**b levels (b >= 4, as mu-law quantisers have) and a one-channel float
  signal: a level is sampled and fed back as its mu-law sample (mu = K - 1);
- "one-hot": a softmax over K levels and a K-channel float signal: the sampled level's one-hot vector;
- "level": a softmax over K levels and a categorical signal of K categories: the sampled level itself;
- "regression": any other activation, as many units as the float signal's channels: the output as is.

`log_softmax` outputs are sampled like softmax ones. Levels are sampled from log-probabilities / T with
the largest subtracted, so a temperature near 0 tends to the most likely level, never to level 0.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla

from convert.runtime import conditioning
from convert.runtime.feedback import output_kind  # noqa: F401  (re-exported: generation's public name)
from convert.runtime.mulaw import mu_law_decode
from convert.core.errors import BadValue

def silence(stream) -> np.ndarray:
    """The default first input: zeros, or for levels the level of a zero sample."""
    node = stream.nodes[stream.signal]
    if node.categories:
        return np.full((stream.batch_size,), node.categories // 2, np.int32)
    return np.zeros((stream.batch_size, node.channels), np.float32)


def generate_from(stream, steps: int, batch: int = 1, prime=None, conditions: dict | None = None, seed: int = 0,
                  temperature: float = 1.0, progress=None, decode: bool = False) -> np.ndarray:
    """A fresh run of `batch` streams: reset (global inputs from `conditions`), fed the prime (all its steps
    but the last, which is the first value fed back), then `steps` generated (`generate`); with `decode`,
    levels are returned as the mu-law samples they stand for."""
    globals_ = {node.name: conditions[node.name] for node in stream.nodes if node.is_global} if conditions else None
    stream.reset(batch, globals=globals_)
    first = None
    if prime is not None:
        arrays = [prime[:, :-1] if i == stream.signal else conditions[node.name] for i, node in enumerate(stream.nodes)]
        stream.run(arrays if len(arrays) > 1 else arrays[0])
        first = prime[:, -1]
    result = generate(stream, steps, first=first, seed=seed, temperature=temperature, progress=progress,
                      conditions=conditions)
    if decode:
        result = mu_law_decode(result, stream.units - 1).numpy()
    return result


def generate(stream, steps: int, first=None, seed: int = 0, temperature: float = 1.0, progress=None,
             conditions=None) -> np.ndarray:
    """Autoregressive samples, starting from the stream's current state with the signal's value `first`
    at the current step (default `silence`): (batch, steps, C) samples for mu-law and regression outputs,
    (batch, steps) integer levels for one-hot and level outputs. `conditions` gives every other input as
    the practice model takes it, from the sequence's first step (a dict by name, or a list in spec order
    without the signal). Stream b of the batch draws its levels from its own generator, seeded `seed + b`:
    the same seed, state and conditions give the same samples, and a stream's draws do not depend on the
    batch it runs in. `progress(n)` is told of every chunk done."""
    kind = output_kind(stream.analysis)
    if not (temperature > 0 and np.isfinite(temperature)):
        raise BadValue(f"`temperature` must be a positive finite number; received {temperature}")
    stream._require_state()
    if not 0 <= seed <= 2**63 - stream.batch_size:
        raise BadValue(f"`seed` must be in [0, 2**63 - batch]; received {seed}")
    start = int(stream._state[0]) - stream.origin  # the sequence's step of the first output computed
    conds = check_conditions(stream, conditions, start + steps)
    x = _first(stream, first)
    loop = _loop(stream, kind)
    draws = [np.random.Generator(np.random.PCG64(seed + b)) for b in range(stream.batch_size)]  # one per stream
    pieces, done = [], 0
    while done < steps:
        n = min(stream.chunk, steps - done)
        part = conditioning.step_rate(stream.nodes, [v[:, start + done:start + done + n] if node.sequence and v is
                                                     not None else v for node, v in zip(stream.nodes, conds)],
                                      start + done, n, skip=stream.signal)
        chunks = tuple(tf.constant(np.concatenate([p, np.zeros((stream.chunk - n,) + p.shape[1:], p.dtype)]))
                       for p in part if p is not None)
        t, rings = stream._state
        uniforms = np.zeros((stream.chunk, stream.batch_size, 1), np.float32)
        if kind != "regression":
            uniforms[:n, :, 0] = np.stack([draw.random(n, dtype=np.float32) for draw in draws], axis=1)
        samples, x, t, rings = loop(x, chunks, t, rings, tf.constant(n), tf.constant(uniforms),
                                    tf.constant(temperature, tf.float32))
        stream._state = (t, rings)
        piece = np.moveaxis(samples.numpy()[:n], 0, 1)
        if not np.all(np.isfinite(piece)):  # never fed back further, never written
            bad = int(np.argmax(~np.all(np.isfinite(piece.reshape(piece.shape[0], n, -1)), axis=(0, 2))))
            raise BadValue(f"the model produced NaN or infinity at generated step {done + bad:,}; generation stopped")
        pieces.append(piece)
        done += n
        if progress:
            progress(n)
    shape = (stream.batch_size, 0) + (() if kind in ("one-hot", "level") else (stream.channels,))
    return np.concatenate(pieces, axis=1) if pieces else np.zeros(shape, np.float32)


def check_conditions(stream, conditions, last_step: int) -> list:
    """Every input but the signal, checked and long enough for outputs up to step `last_step` - 1 (frames
    and sequences covering steps 0 .. last_step); None in the signal's place."""
    others = [node for i, node in enumerate(stream.nodes) if i != stream.signal]
    if not others:
        if conditions:
            raise conditioning.ConditionError(f"the spec has no input besides the signal `{stream.nodes[0].name}`; "
                                              "it takes no conditions")
        return [None]
    if conditions is None:
        raise conditioning.ConditionError(f"generation needs the input(s) {', '.join(n.name for n in others)} "
                                          "besides the signal")
    given = conditioning.as_list(others, conditions)
    out = []
    for i, node in enumerate(stream.nodes):
        if i == stream.signal:
            out.append(None)
            continue
        out.append(conditioning.check_condition(node, given.pop(0), stream.batch_size, last_step))
    return out


def _first(stream, first):
    value = silence(stream) if first is None else first
    node = stream.nodes[stream.signal]
    label = f"`first` (signal `{node.name}`)"
    return tf.constant(conditioning.check(conditioning.at_step(node), value, stream.batch_size, label))


def sample_logits(logits, u, temperature):
    """Inverse-CDF sampling of a level from (batch, levels) log-probabilities (or logits) with one uniform
    number u in [0, 1) per row: the first level whose cumulative weight passes u of the total. Weights are
    exp(logits / T) with the largest subtracted, so a temperature near 0 tends to the most likely level
    instead of underflowing to nothing; a level of probability 0 (log -inf) is never drawn."""
    logits = logits / temperature
    weights = tf.exp(logits - tf.reduce_max(logits, axis=-1, keepdims=True))
    cdf = tf.cumsum(weights, axis=-1)
    return tf.minimum(tf.reduce_sum(tf.cast(cdf <= u * cdf[:, -1:], tf.int32), axis=-1), tf.shape(logits)[-1] - 1)


def sample_level(probabilities, u, temperature):
    """`sample_logits` of (batch, levels) probabilities."""
    return sample_logits(tf.math.log(probabilities), u, temperature)


def _loop(stream, kind: str):
    """The compiled generation loop for one output kind and batch size, built once per stream."""
    key = (kind, stream.batch_size)  # the batch is part of the loop's shapes: a reset to another needs its own
    if key not in stream._generate_graphs:
        batch, node = stream.batch_size, stream.nodes[stream.signal]
        softmax = stream.analysis.spec.layer(stream.analysis.spec.output).config.get("activation") == "softmax"
        levels = stream.units
        sample_shape = () if kind in ("one-hot", "level") else (stream.channels,)

        def loop(x, chunks, t, rings, steps, uniforms, temperature):
            samples = tf.zeros((stream.chunk, batch) + sample_shape, tf.int32 if sample_shape == () else tf.float32)

            others = [node.name for j, node in enumerate(stream.nodes) if j != stream.signal]
            known = stream._precompute(dict(zip(others, chunks)))

            def body(i, x, t, rings, samples):
                given = iter(chunks)
                xs = [x if j == stream.signal else next(given)[i] for j in range(len(stream.nodes))]
                y, rings = stream._step(xs, t, rings, known={k: v[i] for k, v in known.items()})
                if kind == "regression":
                    x = sample = y
                else:
                    level = sample_logits(tf.math.log(y) if softmax else y, uniforms[i], temperature)
                    sample = level
                    if kind == "mu-law":
                        x = sample = mu_law_decode(level, levels - 1)[:, None]
                    elif kind == "one-hot":
                        x = tf.one_hot(level, node.channels, dtype=tf.float32)
                    else:
                        x = level
                start = tf.stack([i] + [0] * (len(samples.shape) - 1))
                return i + 1, x, t + 1, rings, xla.dynamic_update_slice(samples, sample[None], start)

            _, x, t, rings, samples = tf.while_loop(lambda i, *_: i < steps, body, (0, x, t, rings, samples))
            return samples, x, t, rings

        stream._generate_graphs[key] = tf.function(loop, jit_compile=True, autograph=False)
    return stream._generate_graphs[key]
