"""Several inputs at run time: the arrays the practice model takes (one per input, in spec order) checked,
and brought to the step rate for the stream and generation. NumPy only.

Arrays as the practice model takes them: a sequence input (batch, T, C), or (batch, T) integers for a
categorical one; a hop input's frames (batch, F, C), frame j covering steps j*hop .. (j+1)*hop - 1; a
global input (batch, C), or (batch,) integers. The output at step t sees frame (t+1) // hop (the frame of
the step it predicts), the last frame for a prediction past the frames.
"""

from __future__ import annotations

import numpy as np

from convert.core.errors import BadValue


class ConditionError(BadValue):
    """An input array of the wrong shape, type or length: the message says which and what is expected."""


def expected_shape(node, batch: int | str = "batch", steps: int | str = "T", frames: int | str = "frames") -> tuple:
    """The array one input takes (batch first), as numbers or names."""
    if node.is_global:
        middle: tuple = ()
    else:
        middle = (frames,) if node.hop else (steps,)
    return (batch,) + middle + (() if node.categories else (node.channels,))


class _AtStep:
    """An input as one step of it is given: a vector (or an integer) per sequence, like a global input."""

    def __init__(self, node):
        self.name, self.channels, self.categories, self.hop, self.is_global, self.sequence = \
            node.name, node.channels, node.categories, None, True, False


def at_step(node) -> _AtStep:
    return _AtStep(node)


def as_list(nodes, arrays) -> list:
    """One array per input: a single array stands for a model of one input; a dict is taken by name."""
    if isinstance(arrays, dict):
        unknown = sorted(set(arrays) - {node.name for node in nodes})
        if unknown:
            raise ConditionError(f"no input is named {', '.join(map(repr, unknown))}; the inputs are "
                                 f"{', '.join(node.name for node in nodes)}")
        missing = [node.name for node in nodes if node.name not in arrays]
        if missing:
            raise ConditionError(f"missing input(s) {', '.join(missing)}")
        return [arrays[node.name] for node in nodes]
    if len(nodes) == 1 and not isinstance(arrays, (list, tuple)):
        return [arrays]
    if not isinstance(arrays, (list, tuple)) or len(arrays) != len(nodes):
        raise ConditionError(f"expected {len(nodes)} arrays, one per input ({', '.join(n.name for n in nodes)}), "
                             "in spec order")
    return list(arrays)


def check(node, value, batch: int | None = None, what: str = "") -> np.ndarray:
    """One input's array, checked: rank, channels, finite values, integer categories in range."""
    label = what or f"input `{node.name}`"
    value = np.asarray(value)
    want = expected_shape(node)
    if value.ndim != len(want) or (not node.categories and value.shape[-1] != node.channels):
        raise ConditionError(f"{label}: expected shape ({', '.join(map(str, want))}); received {value.shape}")
    if batch is not None and value.shape[0] != batch:
        raise ConditionError(f"{label}: batch {value.shape[0]}; expected {batch}")
    if node.categories:
        if value.dtype.kind == "f" and (not np.all(np.isfinite(value)) or np.any(value != np.rint(value))):
            raise ConditionError(f"{label}: integer categories expected; received non-integer values")
        if value.dtype.kind not in "iuf" or (value.size and (value.min() < 0 or value.max() >= node.categories)):
            low, high = (f"{value.min():g}", f"{value.max():g}") if value.size and value.dtype.kind in "iuf" \
                else ("?", "?")
            raise ConditionError(f"{label}: categories must lie in 0..{node.categories - 1}; received "
                                 f"values from {low} to {high}")
        return value.astype(np.int32)
    if value.dtype.kind not in "iuf":
        raise ConditionError(f"{label}: numbers expected; received {value.dtype}")
    if not np.all(np.isfinite(value)):
        raise ConditionError(f"{label}: holds NaN or infinity")
    return value.astype(np.float32)


def frames_needed(node, last_step: int) -> int:
    """Frames a hop input needs to cover steps 0 .. last_step."""
    return last_step // node.hop + 1


def step_rate(nodes, arrays: list, start: int, steps: int, skip: int | None = None) -> list:
    """Each input's values at steps start .. start+steps-1 (steps counted from the sequence's first), time
    first: (steps, batch, ...). Sequence inputs are given for those steps; hop frames and global vectors
    for the whole sequence. `skip` is an input left out (None in its place: the fed-back signal)."""
    out = []
    for index, (node, value) in enumerate(zip(nodes, arrays)):
        if index == skip:
            out.append(None)
            continue
        if node.is_global:
            value = np.repeat(value[None], steps, axis=0)
        elif node.hop:
            frames = np.minimum((np.arange(start, start + steps) + 1) // node.hop, value.shape[1] - 1)
            value = np.moveaxis(value[:, frames], 1, 0)
        else:
            value = np.moveaxis(value, 1, 0)
        out.append(np.ascontiguousarray(value))
    return out


def check_frames(node, value: np.ndarray, last_step: int, label: str = "") -> None:
    """The frames cover steps 0 .. last_step."""
    need = frames_needed(node, last_step)
    if value.shape[1] < need:
        raise ConditionError(f"{label or f'input `{node.name}`'} has {value.shape[1]:,} frame(s); steps 0 to "
                             f"{last_step:,} need {need:,} (one frame per {node.hop} steps)")


def check_condition(node, value, batch: int, last_step: int, label: str = "") -> np.ndarray:
    """A conditioning input's array (`check`) that covers steps 0 .. last_step: a hop input's frames, or a
    sequence input's last_step steps (the output at last_step - 1 is the last one computed)."""
    label = label or f"input `{node.name}`"
    value = check(node, value, batch, label)
    if node.hop:
        check_frames(node, value, last_step, label)
    elif node.sequence and value.shape[1] < last_step:
        raise ConditionError(f"{label} has {value.shape[1]:,} steps; generating to step {last_step:,} needs "
                             f"{last_step:,}")
    return value


def random_arrays(nodes, steps: int, batch: int = 2, seed: int = 0) -> list:
    """Random arrays as the practice model takes them, `steps` long (frames covering them, vectors, levels)."""
    rng = np.random.default_rng(seed)
    out = []
    for node in nodes:
        shape = expected_shape(node, batch, steps, steps // node.hop + 1 if node.hop else 0)
        out.append(rng.integers(0, node.categories, size=shape).astype(np.int32) if node.categories
                   else rng.normal(size=shape).astype(np.float32))
    return out
