"""Dense prediction: the practice model's output at every step of a long recording, computed chunk by
chunk in bounded memory and equal to one pass over the whole recording.

Row t is practice(x)[t] of the whole sequence. A chunk of steps [s, e) is computed from the recording
from c = s - overlap on, and its first s - c outputs are dropped: in causal warm-up each output depends on
the receptive field's steps alone (overlap RF - 1); in exact warm-up, and with `same_padding: exact`, on
the window's (overlap W - 1). A hop input's frames are cut from the frame of step c on, so c is a multiple
of every hop; global inputs are the same for every chunk. Chunks of equal length run `batch_size` at a time.
"""

from __future__ import annotations

import math

import numpy as np

from convert.core.errors import BadValue

CHUNK = 65_536  # steps per chunk at most by default: large enough that the overlap costs little
MEMORY = 2**29  # bytes of activations a default chunk may take (times RUNTIME for what the runtime holds besides)
RUNTIME = 4


def default_chunk(analysis, batch_size: int = 1) -> int:
    """Steps per chunk such that `batch_size` chunks' activations stay within MEMORY (the practice model's
    values per step, `convert.analysis.limits.values_per_step`), at most CHUNK, at least 256."""
    from convert.analysis.limits import peak_values

    values = max(peak_values(analysis), 1)
    return int(min(CHUNK, max(256, MEMORY // (4 * RUNTIME * values * batch_size))))


def check_memory(analysis, length: int, batch_size: int) -> None:
    """Refuse (TooLarge) chunks whose pass would pass causalc's memory limit: every layer's values at every
    step of `batch_size` chunks of `length` steps (with their history), and what the runtime holds besides."""
    from convert.analysis.limits import peak_values
    from convert.core import limits

    values = peak_values(analysis)
    limits.check_memory(f"predicting {batch_size:,} chunk(s) of {length:,} steps with their history "
                        f"({values:,} values per step)", 4 * RUNTIME * batch_size * length * values,
                        "use a smaller --chunk or --batch-size")


def overlap(analysis, warmup: str) -> int:
    """Steps of history a chunk needs before its first output."""
    if warmup == "exact" or analysis.spec.same_padding == "exact":
        return analysis.window - 1
    return analysis.receptive_field - 1


def steps_of(analysis, arrays) -> int:
    """The recording's steps: those of its sequence inputs (which must agree; a hop input's frames must
    cover them)."""
    from convert.runtime.conditioning import frames_needed

    nodes = analysis.spec.inputs
    lengths = {len(value) for node, value in zip(nodes, arrays) if node.sequence and not node.hop}
    if len(lengths) != 1:
        raise BadValue("the recording's sequence inputs have different lengths: " + ", ".join(
            f"`{node.name}` {len(value):,}" for node, value in zip(nodes, arrays) if node.sequence and not node.hop))
    steps = lengths.pop()
    for node, value in zip(nodes, arrays):
        if node.hop and len(value) < frames_needed(node, steps - 1):
            raise BadValue(f"`{node.name}` has {len(value):,} frame(s); steps 0 to {steps - 1:,} need "
                           f"{frames_needed(node, steps - 1):,}")
    return steps


def chunks(model, spec, arrays, chunk: int | None = None, warmup: str = "causal", batch_size: int = 1):
    """Yields (first step, rows) for consecutive pieces of the recording `arrays` (one array-like per spec
    input, in spec order, as `convert.runtime.recordings.read` gives: NumPy arrays, memory maps, or anything
    sliced along its first axis), every row the practice model's output at that step of the whole sequence.
    `model` is the practice model of `spec` (a path or an Analysis), compiled with `warmup`."""
    from convert.runtime.api import load

    analysis = load(spec)
    if not isinstance(arrays, (list, tuple)):
        arrays = [arrays]
    chunk = default_chunk(analysis, batch_size) if chunk is None else chunk
    if chunk < 1 or batch_size < 1:
        raise BadValue(f"`chunk` and `batch_size` must be at least 1; received {chunk}, {batch_size}")
    nodes = analysis.spec.inputs
    steps = steps_of(analysis, arrays)
    align = math.lcm(*[node.hop for node in nodes if node.hop] or [1])
    chunk = -(-chunk // align) * align  # chunks start on a frame
    history = -(-overlap(analysis, warmup) // align) * align
    check_memory(analysis, min(chunk, steps) + min(history, steps), min(batch_size, -(-steps // chunk)))
    pending: list[tuple[int, int, int]] = []  # (context start, first step, end) of chunks of one length
    for start in range(0, steps, chunk):
        end = min(start + chunk, steps)
        context = max(0, start - history)
        if pending and (end - context != pending[0][2] - pending[0][0] or len(pending) == batch_size):
            yield from _run(model, nodes, arrays, pending)
            pending = []
        pending.append((context, start, end))
    if pending:
        yield from _run(model, nodes, arrays, pending)


def _run(model, nodes, arrays, pieces):
    inputs = []
    for node, value in zip(nodes, arrays):
        if node.is_global:
            inputs.append(np.repeat(np.asarray(value)[None], len(pieces), axis=0))
        elif node.hop:
            inputs.append(np.stack([np.asarray(value[c // node.hop:e // node.hop + 1]) for c, _, e in pieces]))
        else:
            inputs.append(np.stack([np.asarray(value[c:e]) for c, _, e in pieces]))
    inputs = [x.astype(np.int32) if node.categories else x.astype(np.float32) for node, x in zip(nodes, inputs)]
    out = np.asarray(model.predict_on_batch(inputs if len(inputs) > 1 else inputs[0]))
    for row, (context, start, end) in zip(out, pieces):
        yield start, row[start - context:end - context]


def predict(model, spec, arrays, chunk: int | None = None, warmup: str = "causal", batch_size: int = 1) -> np.ndarray:
    """Every row at once, (steps, units) (for a recording whose output fits in memory; `chunks` streams)."""
    return np.concatenate([rows for _, rows in chunks(model, spec, arrays, chunk, warmup, batch_size)])
