"""How `causalc import` follows an ONNX tensor's layout: the Value of a data-carrying tensor (the spec
tensor it is and the index array of its elements, see `onnx_model`), and the layout-only operators —
Transpose, Squeeze, Unsqueeze, Reshape, Flatten, Identity, Dropout — with Concat and the time-axis Slice and
Gather, which move elements without computing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convert.core.errors import BadValue


class LayoutError(BadValue):
    """What a node does that a spec cannot say (the reader adds the node's name and operator)."""


@dataclass
class Value:
    """A data-carrying ONNX tensor: the spec tensor it is, how its elements lie (see the module), the spec
    tensor's channels, the ONNX axis of time (None: no positions), and the oldest positions a Slice cut."""

    spec: str
    idx: np.ndarray
    channels: int
    time: int | None
    cropped: int = 0
    floor: bool = False  # a Clip(min=1e-6) that only a Log reads: the safe log's floor
    above: float | None = None  # Greater(x, k): the mask of x > k, which only a Where reads

    @property
    def width(self) -> int:
        return self.idx.shape[self.time - 1] if self.time is not None else 1

    @property
    def shape(self) -> tuple:
        return (None,) + self.idx.shape


def find_time(idx: np.ndarray, channels: int, width: int) -> int | None:
    """The ONNX axis along which `idx` steps through positions (None: no such axis, or width 1)."""
    steps = idx // channels
    for axis in range(idx.ndim):
        if idx.shape[axis] == width and width > 1:
            expected = np.arange(width).reshape([-1 if a == axis else 1 for a in range(idx.ndim)])
            if np.array_equal(steps, np.broadcast_to(expected, idx.shape)):
                return axis + 1
    return None


def _positions(v) -> np.ndarray:
    """The spec position of every element (0 without a time axis)."""
    return v.idx // v.channels if v.time is not None else np.zeros_like(v.idx)


def _features(v) -> np.ndarray:
    """Each element's spec channel over the axes other than time (at the newest position: every position
    lays its channels out alike); a flat tensor's spec index."""
    if v.time is None:
        return v.idx
    return np.take(v.idx, 0, axis=v.time - 1) % v.channels


def _features_full(v) -> np.ndarray:
    """Each element's spec channel, over the whole ONNX shape."""
    return v.idx % v.channels if v.time is not None else v.idx


def _same(v, idx: np.ndarray, cropped: int = 0):
    time = find_time(idx, v.channels, v.width) if v.time is not None else None
    if v.time is not None and v.width > 1 and time is None:
        if idx.ndim == 1:
            return None  # a flatten
        raise LayoutError("it mixes the time axis with others; causalc reads reshapes that move or flatten axes")
    return Value(spec=v.spec, idx=idx, channels=v.channels, time=time if v.width > 1 else None, cropped=cropped)


def _per_channel(v, values: np.ndarray, fill: float) -> np.ndarray:
    """A per-channel parameter (ONNX axis 1) as one value per spec channel."""
    if v.time == 1:
        raise LayoutError("it works over axis 1, the time axis here; causalc reads per-channel operators over "
                          "channels")
    features = _features(v) if v.time is not None else v.idx
    features = features.reshape(features.shape[0], -1)
    values = np.ravel(values)
    out = np.full(v.channels, fill, np.float64)
    for c in range(features.shape[0]):
        out[features[c]] = values[c] if values.size > 1 else values[0]
    return out


def identity(r, node, attrs):
    return r.value(node.input[0])


def transpose(r, node, attrs):
    v = r.value(node.input[0])
    perm = list(attrs.get("perm", range(v.idx.ndim, -1, -1)))
    if perm[0] != 0:
        raise LayoutError("it moves the batch axis")
    return _same(v, np.transpose(v.idx, [p - 1 for p in perm[1:]]), v.cropped)


def _squeeze_axes(r, node, attrs, rank):
    if len(node.input) > 1 and node.input[1]:
        return [int(a) % rank for a in np.ravel(r.constant(node.input[1], "axes"))]
    axes = attrs.get("axes")
    return None if axes is None else [int(a) % rank for a in axes]


def squeeze(r, node, attrs):
    v = r.value(node.input[0])
    axes = _squeeze_axes(r, node, attrs, v.idx.ndim + 1)
    axes = [a for a in range(1, v.idx.ndim + 1) if v.idx.shape[a - 1] == 1] if axes is None else axes
    if 0 in axes:
        raise LayoutError("it squeezes the batch axis")
    return _same(v, np.squeeze(v.idx, tuple(a - 1 for a in axes)), v.cropped)


def unsqueeze(r, node, attrs):
    v = r.value(node.input[0])
    count = len(np.ravel(r.constant(node.input[1], "axes"))) if len(node.input) > 1 else len(attrs["axes"])
    axes = sorted(_squeeze_axes(r, node, attrs, v.idx.ndim + 1 + count))
    if 0 in axes:
        raise LayoutError("it adds an axis before the batch")
    idx = v.idx
    for axis in axes:
        idx = np.expand_dims(idx, axis - 1)
    return _same(v, idx, v.cropped)


def _flatten(r, node, v, idx):
    """A Flatten of positions and channels: the spec's Flatten, its elements in ONNX's order."""
    if v.time is None:
        return Value(spec=v.spec, idx=idx.reshape(-1), channels=v.channels, time=None)
    name = r.add(node, "Flatten", [v.spec], {})
    return Value(spec=name, idx=idx.reshape(-1), channels=v.width * v.channels, time=None)


def reshape(r, node, attrs):
    from convert.importers.onnx_graph import BATCH

    v = r.value(node.input[0])
    shape = [int(d) for d in np.ravel(r.constant(node.input[1], "shape"))]
    if not shape or shape[0] not in (BATCH, -1, 0, r.batch):
        raise LayoutError(f"its target shape {shape} does not keep the batch first")
    rest = [v.idx.shape[i] if d == 0 and i < v.idx.ndim else d for i, d in enumerate(shape[1:])]
    if shape[0] == -1:
        if -1 in rest:
            raise LayoutError(f"its target shape {shape} leaves the batch and another axis unknown")
    idx = v.idx.reshape(rest)
    out = _same(v, idx, v.cropped)
    return out if out is not None else _flatten(r, node, v, idx)


def flatten(r, node, attrs):
    v = r.value(node.input[0])
    if attrs.get("axis", 1) != 1:
        raise LayoutError("it flattens from another axis than 1; causalc reads (batch, ...) -> (batch, n)")
    return _flatten(r, node, v, v.idx.reshape(-1))


def concat(r, node, attrs):
    values = [r.value(n) for n in node.input if n]
    if any(n not in r.values for n in node.input if n):
        raise LayoutError("it concatenates the data with constants")
    axis = attrs["axis"] % (values[0].idx.ndim + 1)
    if axis == 0 or any(v.time == axis for v in values):
        raise LayoutError("it concatenates along the batch or the time axis; causalc concatenates channels")
    total = sum(v.channels for v in values)
    parts, offset = [], 0
    for v in values:
        parts.append(_positions(v) * total + _features_full(v) + offset)
        offset += v.channels
    idx = np.concatenate(parts, axis=axis - 1)
    times = {v.time for v in values}
    if len(times) > 1 or any(v.time is None and v.idx.ndim > 1 for v in values):
        raise LayoutError("it concatenates tensors with and without positions")
    name = r.add(node, "Concatenate", [v.spec for v in values], {})
    return Value(spec=name, idx=idx, channels=total, time=values[0].time)


def slice_(r, node, attrs):
    from convert.importers.onnx_graph import _slice

    v = r.value(node.input[0])
    rank = v.idx.ndim + 1
    names = list(node.input[1:])
    consts = {n: np.asarray(r.constant(n, "bound")) for n in names if n}
    if "starts" in attrs:  # opset < 10: bounds as attributes
        attrs = dict(attrs, axes=[int(a) % rank - 1 for a in attrs.get("axes", range(len(attrs["starts"])))])
        if any(a < 0 for a in attrs["axes"]):
            raise LayoutError("it slices the batch axis")
    else:
        if len(names) > 2 and names[2]:
            axes = [int(a) % rank - 1 for a in np.ravel(consts[names[2]])]
        else:
            axes = list(range(-1, len(np.ravel(consts[names[0]])) - 1))
        if any(a < 0 for a in axes):
            raise LayoutError("it slices the batch axis")
        consts["__axes"] = np.asarray(axes)
        names = names[:2] + ["__axes"] + names[3:]
    cut = _slice(v.idx, [None] + names, consts, attrs)
    if cut.shape == v.idx.shape:
        return v
    changed = [a for a in range(v.idx.ndim) if cut.shape[a] != v.idx.shape[a]]
    newest = v.time is not None and changed == [v.time - 1] and \
        np.array_equal(np.take(cut, -1, axis=v.time - 1), np.take(v.idx, -1, axis=v.time - 1))
    if not newest or cut.shape[v.time - 1] < 1:
        raise LayoutError("it cuts channels, or positions other than the oldest; causalc reads cuts of the oldest "
                          "positions (a cropped residual)")
    kept = cut.shape[v.time - 1]
    return Value(spec=v.spec, idx=cut, channels=v.channels, time=v.time if kept > 1 else None,
                  cropped=v.cropped + v.width - kept)


def gather(r, node, attrs):
    v = r.value(node.input[0])
    index = np.asarray(r.constant(node.input[1], "index"))
    axis = attrs.get("axis", 0) % (v.idx.ndim + 1)
    if v.time is None or axis != v.time or index.ndim != 0 or int(index) % v.width != v.width - 1:
        raise LayoutError("it takes other elements than the newest position; causalc reads x[:, ..., -1] over time")
    picked = np.take(v.idx, -1, axis=v.time - 1)
    flat = _flatten(r, node, v, v.idx.reshape(-1))  # the newest position's values, read out of the Flatten
    return Value(spec=flat.spec, idx=picked, channels=flat.channels, time=None)
