"""The ONNX operators `causalc import` reads: each rule takes the reader, the node and its attributes and
returns the node's Value (see `onnx_model`), adding spec layers through `reader.add`. A rule raises
LayoutError when the node does something a per-step spec cannot say; the reader names the node."""

from __future__ import annotations

import math

import numpy as np

from convert.core.errors import BadValue


class LayoutError(BadValue):
    """What a node does that a spec cannot say (the reader adds the node's name and operator)."""


def _value(**kwargs):
    from convert.importers.onnx_model import Value

    return Value(**kwargs)


def _positions(v) -> np.ndarray:
    """The spec position of every element (0 without a time axis)."""
    return v.idx // v.channels if v.time is not None else np.zeros_like(v.idx)


def _features(v) -> np.ndarray:
    """Each element's spec channel over the axes other than time (at the newest position: every position
    lays its channels out alike); a flat tensor's spec index."""
    if v.time is None:
        return v.idx
    return np.take(v.idx, 0, axis=v.time - 1) % v.channels


def _same(v, idx: np.ndarray, cropped: int = 0):
    from convert.importers.onnx_model import find_time

    time = find_time(idx, v.channels, v.width) if v.time is not None else None
    if v.time is not None and v.width > 1 and time is None:
        if idx.ndim == 1:
            return None  # a flatten
        raise LayoutError("it mixes the time axis with others; causalc reads reshapes that move or flatten axes")
    return _value(spec=v.spec, idx=idx, channels=v.channels, time=time if v.width > 1 else None, cropped=cropped)


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


# ---- layout only ----

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
        return _value(spec=v.spec, idx=idx.reshape(-1), channels=v.channels, time=None)
    name = r.add(node, "Flatten", [v.spec], {})
    return _value(spec=name, idx=idx.reshape(-1), channels=v.width * v.channels, time=None)


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


# ---- layers ----

def _pads(attrs, spatial: int, sizes: list[int], kernel: list[int], strides: list[int], dilations: list[int]):
    pads = list(attrs.get("pads", [0] * 2 * spatial))
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        for a in range(spatial):
            out = -(-sizes[a] // strides[a])
            total = max((out - 1) * strides[a] + (kernel[a] - 1) * dilations[a] + 1 - sizes[a], 0)
            small = total // 2
            pads[a], pads[a + spatial] = (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
    return [(pads[a], pads[a + spatial]) for a in range(spatial)]


def _spatial(v, rank: int):
    """(time axis among the spatial ones, the other's index or None) for an N-C-spatial tensor."""
    if v.time is None or v.time < 2:
        raise LayoutError("it convolves or pools over axes that are not time; causalc reads a time axis among "
                          "the spatial ones (PyTorch's (batch, C, W) or (batch, C, W, electrodes))")
    t = v.time - 2
    others = [a for a in range(rank - 2) if a != t]
    return t, (others[0] if others else None)


def _floor(r, node, source: str, width: int, extent: int, stride: int) -> str:
    """A strided layer of PyTorch or ONNX reads floor((width - extent) / stride) + 1 windows: the newest
    leftover positions are never read. The spec says so with a Cropping1D (a delay in practice)."""
    left = (width - extent) % stride if width >= extent else 0
    if not left:
        return source
    return r.add(node, "Cropping1D", [source], {"cropping": [0, left]}, suffix="_floor")


def conv(r, node, attrs):
    v = r.value(node.input[0])
    weight = np.asarray(r.constant(node.input[1], "weight"), np.float64)
    bias = np.asarray(r.constant(node.input[2], "bias"), np.float64) if len(node.input) > 2 and node.input[2] \
        else None
    rank = v.idx.ndim + 1
    if rank not in (3, 4):
        raise LayoutError(f"a {rank - 2}-D convolution; causalc reads 1-D ones and 2-D ones over (time, electrodes)")
    t, s = _spatial(v, rank)
    spatial = rank - 2
    kernel = list(weight.shape[2:])
    strides = list(attrs.get("strides", [1] * spatial))
    dilations = list(attrs.get("dilations", [1] * spatial))
    sizes = list(v.idx.shape[1:])
    pads = _pads(attrs, spatial, sizes, kernel, strides, dilations)
    group = attrs.get("group", 1)
    m, per_group = weight.shape[:2]
    c = per_group * group
    dense = np.zeros((m, c) + weight.shape[2:])
    for g in range(group):
        rows, cols = slice(g * m // group, (g + 1) * m // group), slice(g * per_group, (g + 1) * per_group)
        dense[rows, cols] = weight[rows]
    dense = np.moveaxis(dense, 2 + t, 2)  # (M, C, k_time[, k_other])
    if s is None:
        dense = dense[..., None]
    size_s = sizes[s] if s is not None else 1
    k_s, st_s, dl_s = (kernel[s], strides[s], dilations[s]) if s is not None else (1, 1, 1)
    (sb, se) = pads[s] if s is not None else (0, 0)
    out_s = (size_s + sb + se - dl_s * (k_s - 1) - 1) // st_s + 1
    features = _features(v).reshape(c, size_s)
    k_t = kernel[t]
    grouped = s is None and group > 1 and np.array_equal(features[:, 0], np.arange(c))
    if grouped:  # a 1-D grouped convolution in channel order: Keras's groups, the same kernel
        kernel_spec = np.transpose(weight, (2, 1, 0))
    else:
        kernel_spec = np.zeros((k_t, v.channels, m * out_s))
        for so in range(out_s):
            for j in range(k_s):
                position = so * st_s + j * dl_s - sb
                if 0 <= position < size_s:  # the rest falls on the zeros of the electrode axis' padding
                    columns = so + out_s * np.arange(m)
                    kernel_spec[np.ix_(range(k_t), features[:, position], columns)] += \
                        np.transpose(dense[:, :, :, j], (2, 1, 0))
    source = v.spec
    pb, pe = pads[t]
    if pb or pe:
        source = r.add(node, "ZeroPadding1D", [source], {"padding": [pb, pe]}, suffix="_pad")
    source = _floor(r, node, source, v.width + pb + pe, dilations[t] * (k_t - 1) + 1, strides[t])
    config = {"filters": m * out_s, "kernel_size": k_t, "strides": strides[t], "dilation_rate": dilations[t],
              "use_bias": bias is not None}
    if grouped:
        config["groups"] = group
    weights = [kernel_spec] + ([np.repeat(bias, out_s)] if bias is not None else [])
    name = r.add(node, "Conv1D", [source], config, weights)
    width = (v.width + pb + pe - dilations[t] * (k_t - 1) - 1) // strides[t] + 1
    shape = [m, 0, 0] if s is not None else [m, 0]
    shape[1 + t] = width
    if s is not None:
        shape[1 + s] = out_s
    grid = np.indices(shape)
    idx = grid[1 + t] * (m * out_s) + grid[0] * out_s + (grid[1 + s] if s is not None else 0)
    return _value(spec=name, idx=idx, channels=m * out_s, time=2 + t if width > 1 else None)


def pool(r, node, attrs):
    v = r.value(node.input[0])
    rank = v.idx.ndim + 1
    t, s = _spatial(v, rank)
    spatial = rank - 2
    kernel = list(attrs["kernel_shape"])
    strides = list(attrs.get("strides", [1] * spatial))
    if any(d != 1 for d in attrs.get("dilations", [1] * spatial)):
        raise LayoutError("a dilated pool; causalc reads undilated ones (a dilated pool is a strided stack)")
    sizes = list(v.idx.shape[1:])
    pads = _pads(attrs, spatial, sizes, kernel, strides, [1] * spatial)
    if s is not None and (kernel[s] != 1 or strides[s] != 1 or pads[s] != (0, 0)):
        raise LayoutError("it pools over the electrode axis; causalc pools over time only")
    k, stride, (pb, pe), n = kernel[t], strides[t], pads[t], v.width
    out = (n + pb + pe - k + (stride - 1 if attrs.get("ceil_mode") else 0)) // stride + 1
    if attrs.get("ceil_mode") and (out - 1) * stride >= n + pb:
        out -= 1  # the last window starts inside the input (PyTorch's rule)
    extra = max((out - 1) * stride + k - (n + pb + pe), 0)  # ceil_mode's positions past the end: ignored
    kind = "MaxPooling1D" if node.op_type == "MaxPool" else "AveragePooling1D"
    source, config = v.spec, {"pool_size": k, "strides": stride}
    keras_total = max((-(-n // stride) - 1) * stride + k - n, 0)
    counted = node.op_type == "AveragePool" and attrs.get("count_include_pad", 0)
    if pb == pe == extra == 0:
        source = _floor(r, node, source, n, k, stride)
    elif counted and extra == 0:  # zeros counted in the average: zeros in front of a valid pool
        source = r.add(node, "ZeroPadding1D", [source], {"padding": [pb, pe]}, suffix="_pad")
        source = _floor(r, node, source, n + pb + pe, k, stride)
    elif not (counted and (pb or pe)) and out == -(-n // stride) and (pb, pe + extra) == \
            (keras_total // 2, keras_total - keras_total // 2):
        config["padding"] = "same"  # padded positions ignored: Keras's 'same' rule, compiled exactly
        r.same = True
    else:
        raise LayoutError(f"its padding ({pb}, {pe}){' with ceil_mode' if extra else ''} over {n} positions is "
                          "neither zeros counted in the average nor Keras's 'same' rule; pad with F.pad before the "
                          "pool instead")
    name = r.add(node, kind, [source], config)
    shape = list(v.idx.shape)
    shape[t + 1] = out
    grid = np.indices(shape)
    features = _features(v)
    idx = grid[t + 1] * v.channels + np.expand_dims(features, t + 1)
    return _value(spec=name, idx=idx, channels=v.channels, time=v.time if out > 1 else None)


def _unary(type_name: str, config=lambda attrs: {}):
    def rule(r, node, attrs):
        v = r.value(node.input[0])
        name = r.add(node, type_name, [v.spec], config(attrs))
        return _value(spec=name, idx=v.idx, channels=v.channels, time=v.time)
    return rule


def _activation(name: str):
    return _unary("Activation", lambda attrs: {"activation": name})


def gelu(r, node, attrs):
    approximate = attrs.get("approximate", b"none")
    if (approximate.decode() if isinstance(approximate, bytes) else approximate) != "none":
        raise LayoutError("the tanh approximation of GELU; causalc's gelu is the exact one (approximate='none')")
    return _activation("gelu")(r, node, attrs)


def hard_sigmoid(r, node, attrs):
    if not (math.isclose(attrs.get("alpha", 0.2), 1 / 6, rel_tol=1e-6) and math.isclose(attrs.get("beta", 0.5), 0.5)):
        raise LayoutError("HardSigmoid with alpha != 1/6; causalc's hard_sigmoid is relu6(x + 3) / 6 (PyTorch's)")
    return _activation("hard_sigmoid")(r, node, attrs)


def softmax(r, node, attrs):
    v = r.value(node.input[0])
    rank = v.idx.ndim + 1
    axis = attrs.get("axis", 1 if r.opset < 13 else -1) % rank
    sizes = [d for a, d in enumerate(v.idx.shape, 1) if a != axis and a != v.time]
    if axis == v.time or any(d != 1 for d in sizes) or v.idx.shape[axis - 1] != v.channels:
        raise LayoutError("it normalises over more than the channels of one position")
    if node.op_type == "LogSoftmax":
        return _activation("log_softmax")(r, node, attrs)
    return _unary("Softmax")(r, node, attrs)


def batch_norm(r, node, attrs):
    v = r.value(node.input[0])
    if attrs.get("training_mode", 0):
        raise LayoutError("exported in training mode; export with model.eval()")
    scale, beta, mean, var = (np.asarray(r.constant(n, "statistic"), np.float64) for n in node.input[1:5])
    weights = [_per_channel(v, scale, 1.0), _per_channel(v, beta, 0.0), _per_channel(v, mean, 0.0),
               _per_channel(v, var, 1.0)]
    name = r.add(node, "BatchNormalization", [v.spec], {"epsilon": float(attrs.get("epsilon", 1e-5))}, weights)
    return _value(spec=name, idx=v.idx, channels=v.channels, time=v.time)


def prelu(r, node, attrs):
    v = r.value(node.input[0])
    slope = np.asarray(r.constant(node.input[1], "slope"), np.float64)
    channel_axis = slope.ndim - v.idx.ndim  # broadcast from the right, as ONNX does: axis 1 of the data
    if slope.size > 1 and (channel_axis < 0 or slope.shape[channel_axis] != slope.size):
        raise LayoutError(f"its slope has shape {slope.shape}; causalc reads one slope or one per channel")
    if slope.size not in (1, v.idx.shape[0] if v.idx.ndim else 1):
        raise LayoutError(f"its slope has shape {slope.shape}; causalc reads one slope or one per channel")
    name = r.add(node, "PReLU", [v.spec], {}, [_per_channel(v, slope, 0.0)])
    return _value(spec=name, idx=v.idx, channels=v.channels, time=v.time)


def _dense(r, node, v, kernel: np.ndarray, bias):
    """A Dense over the last ONNX axis of `v` (flat, or over positions with channels last)."""
    units = kernel.shape[1]
    if v.time is None:
        rows = v.idx.reshape(-1)
        if rows.size != kernel.shape[0] or v.idx.ndim != 1:
            raise LayoutError(f"it multiplies {v.shape} by a ({kernel.shape[0]}, {units}) matrix; causalc reads "
                              "(batch, n) @ (n, units)")
        spec_kernel = np.zeros((v.channels, units))
        spec_kernel[rows] = kernel
        name = r.add(node, "Dense", [v.spec], {"units": units, "use_bias": bias is not None},
                     [spec_kernel] + ([bias] if bias is not None else []))
        return _value(spec=name, idx=np.arange(units), channels=units, time=None)
    if v.time == v.idx.ndim or any(d != 1 for a, d in enumerate(v.idx.shape[:-1], 1) if a != v.time):
        raise LayoutError("a MatMul over positions with channels not last; causalc reads (batch, W, C) @ (C, units)")
    features = np.take(_features(v), np.arange(v.idx.shape[-1]), axis=-1).reshape(-1)
    spec_kernel = np.zeros((v.channels, units))
    spec_kernel[features] = kernel
    name = r.add(node, "Dense", [v.spec], {"units": units, "use_bias": bias is not None},
                 [spec_kernel] + ([bias] if bias is not None else []))
    grid = np.indices(v.idx.shape[:-1] + (units,))
    return _value(spec=name, idx=grid[v.time - 1] * units + grid[-1], channels=units, time=v.time)


def gemm(r, node, attrs):
    v = r.value(node.input[0])
    if attrs.get("transA", 0):
        raise LayoutError("transA; causalc reads (batch, n) @ B")
    b = np.asarray(r.constant(node.input[1], "weight"), np.float64) * attrs.get("alpha", 1.0)
    b = b.T if attrs.get("transB", 0) else b
    c = None
    if len(node.input) > 2 and node.input[2]:
        c = np.broadcast_to(np.asarray(r.constant(node.input[2], "bias"), np.float64) * attrs.get("beta", 1.0),
                            (b.shape[1],))
    return _dense(r, node, v, b, c)


def matmul(r, node, attrs):
    if node.input[0] not in r.values or node.input[1] in r.values:
        raise LayoutError("a product of the data with the data, or a constant times the data; causalc reads "
                          "data @ weights")
    return _dense(r, node, r.value(node.input[0]), np.asarray(r.constant(node.input[1], "weight"), np.float64), None)


def _bias_of(r, v, constant: np.ndarray):
    """Add(a bias-free Dense or Conv1D's output read by nothing else, a constant per its channels): the bias."""
    layer = next((layer for layer in r.layers if layer.name == v.spec), None)
    if layer is None or layer.type not in ("Dense", "Conv1D") or layer.config.get("use_bias") or \
            r.readers.get(v.spec, 0) > 1:
        return None
    flat = np.ravel(constant)
    units = v.idx.shape[-1]
    if flat.size not in (1, units) or constant.ndim > v.idx.ndim + 1 or \
            (flat.size > 1 and constant.shape[-1] != units):
        return None
    features = _features(v).reshape(-1, units) if v.time is not None else v.idx.reshape(-1, units)
    bias = np.zeros(v.channels)
    bias[features[0]] = np.broadcast_to(flat, (units,))
    index = r.layers.index(layer)
    config = dict(layer.config, use_bias=True)
    r.layers[index] = type(layer)(name=layer.name, type=layer.type, inputs=layer.inputs, config=config)
    r.weights[layer.name] = r.weights[layer.name] + [bias.astype(np.float32)]
    return v


def arithmetic(r, node, attrs):
    op = node.op_type
    names = [n for n in node.input if n]
    data = [n for n in names if n in r.values]
    if len(data) == 1 and len(names) == 2:  # the data with a constant
        v = r.value(data[0])
        other = np.asarray(r.constant(next(n for n in names if n not in r.values), "operand"), np.float64)
        data_first = names[0] == data[0]
        if op == "Add" and other.size > 1:
            found = _bias_of(r, v, other)
            if found is not None:
                return found
        if other.size != 1:
            raise LayoutError(f"{op} with a constant of shape {other.shape}; causalc reads scalars (or a bias "
                              "after a Linear or convolution)")
        k = float(other.ravel()[0])
        if op == "Pow" and data_first and k == 2.0:
            return _activation("square")(r, node, attrs)
        scale, offset = {"Add": (1.0, k), "Sub": ((1.0, -k) if data_first else (-1.0, k)),
                         "Mul": (k, 0.0), "Div": ((1.0 / k, 0.0) if data_first and k != 0 else (None, None))
                         }.get(op, (None, None))
        if scale is None:
            raise LayoutError(f"{op} of the data and a constant")
        name = r.add(node, "Rescaling", [v.spec], {"scale": scale, "offset": offset})
        return _value(spec=name, idx=v.idx, channels=v.channels, time=v.time)
    if op == "Mul" and len(names) == 2 and names[0] == names[1]:
        return _activation("square")(r, node, attrs)
    kinds = {"Add": "Add", "Sum": "Add", "Mul": "Multiply"}
    if op not in kinds or len(data) != len(names):
        raise LayoutError(f"{op} of two tensors; causalc merges by Add, Sum and Mul")
    values = [r.value(n) for n in data]
    first = values[0]
    for other in values[1:]:
        if other.idx.shape != first.idx.shape or other.time != first.time or \
                not np.array_equal(_features(other), _features(first)):
            raise LayoutError("it merges tensors laid out differently (or broadcast); causalc merges tensors of "
                              "one shape")
    name = r.add(node, kinds[op], [v.spec for v in values], {})
    grid = np.indices(first.idx.shape)
    idx = (grid[first.time - 1] * first.channels if first.time is not None else 0) + _features_full(first)
    return _value(spec=name, idx=idx, channels=first.channels, time=first.time)


def _features_full(v) -> np.ndarray:
    """Each element's spec channel, over the whole ONNX shape."""
    return v.idx % v.channels if v.time is not None else v.idx


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
    return _value(spec=name, idx=idx, channels=total, time=values[0].time)


def pad(r, node, attrs):
    v = r.value(node.input[0])
    mode = attrs.get("mode", b"constant")
    if (mode.decode() if isinstance(mode, bytes) else mode) != "constant":
        raise LayoutError(f"{mode!r} padding; causalc reads zeros")
    pads = list(np.ravel(r.constant(node.input[1], "pads"))) if len(node.input) > 1 and node.input[1] \
        else list(attrs["pads"])
    fill = float(np.ravel(r.constant(node.input[2], "value"))[0]) if len(node.input) > 2 and node.input[2] \
        else float(attrs.get("value", 0.0))
    rank = v.idx.ndim + 1
    if len(node.input) > 3 and node.input[3]:
        axes = [int(a) % rank for a in np.ravel(r.constant(node.input[3], "axes"))]
        full = [0] * 2 * rank
        for i, a in enumerate(axes):
            full[a], full[a + rank] = pads[i], pads[i + len(axes)]
        pads = full
    pads = [int(p) for p in pads]
    if fill != 0.0 or any(p < 0 for p in pads) or any(pads[a] or pads[a + rank] for a in range(rank) if a != v.time):
        raise LayoutError("it pads with other values than zeros, crops, or pads other axes than time")
    before, after = pads[v.time], pads[v.time + rank]
    name = r.add(node, "ZeroPadding1D", [v.spec], {"padding": [before, after]})
    shape = list(v.idx.shape)
    shape[v.time - 1] += before + after
    grid = np.indices(shape)
    return _value(spec=name, idx=grid[v.time - 1] * v.channels + np.expand_dims(_features(v), v.time - 1),
                  channels=v.channels, time=v.time)


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
    return _value(spec=v.spec, idx=cut, channels=v.channels, time=v.time if kept > 1 else None,
                  cropped=v.cropped + v.width - kept)


def gather(r, node, attrs):
    v = r.value(node.input[0])
    index = np.asarray(r.constant(node.input[1], "index"))
    axis = attrs.get("axis", 0) % (v.idx.ndim + 1)
    if v.time is None or axis != v.time or index.ndim != 0 or int(index) % v.width != v.width - 1:
        raise LayoutError("it takes other elements than the newest position; causalc reads x[:, ..., -1] over time")
    picked = np.take(v.idx, -1, axis=v.time - 1)
    flat = _flatten(r, node, v, v.idx.reshape(-1))  # the newest position's values, read out of the Flatten
    return _value(spec=flat.spec, idx=picked, channels=flat.channels, time=None)


def reduce(r, node, attrs):
    v = r.value(node.input[0])
    rank = v.idx.ndim + 1
    if node.op_type.startswith("Global"):
        axes, keep = list(range(2, rank)), True
    else:
        given = r.constant(node.input[1], "axes") if len(node.input) > 1 and node.input[1] else attrs.get("axes")
        axes = [int(a) % rank for a in np.ravel(given)] if given is not None else list(range(rank))
        keep = bool(attrs.get("keepdims", 1))
    if v.time is None or v.time not in axes or any(v.idx.shape[a - 1] != 1 for a in axes if a != v.time):
        raise LayoutError("it reduces over more than the time axis; causalc pools over time (GlobalAveragePooling1D)")
    kind = "GlobalMaxPooling1D" if "Max" in node.op_type else "GlobalAveragePooling1D"
    name = r.add(node, kind, [v.spec], {})
    idx = np.take(_features_full(v), [0], axis=v.time - 1)
    if not keep:
        idx = np.squeeze(idx, tuple(a - 1 for a in axes))
    return _value(spec=name, idx=idx, channels=v.channels, time=None)


def clip(r, node, attrs):
    v = r.value(node.input[0])
    low = attrs.get("min") if len(node.input) < 2 or not node.input[1] else float(r.constant(node.input[1], "bound"))
    high = attrs.get("max") if len(node.input) < 3 or not node.input[2] else float(r.constant(node.input[2], "bound"))
    if low == 0 and high in (None, float("inf")):
        return _activation("relu")(r, node, attrs)
    if low == 0 and high == 6:
        return _activation("relu6")(r, node, attrs)
    readers = [n for n in r.graph.node if node.output[0] in n.input]
    if high is None and low is not None and math.isclose(low, 1e-6, rel_tol=1e-3) and readers and \
            all(n.op_type == "Log" for n in readers):
        return _value(spec=v.spec, idx=v.idx, channels=v.channels, time=v.time, floor=True)
    raise LayoutError(f"Clip({low}, {high}); causalc reads relu (0, inf), relu6 (0, 6) and the floor of a safe "
                      "log (1e-6, before a Log)")


def log(r, node, attrs):
    v = r.value(node.input[0])
    if not v.floor:
        raise LayoutError("a log of values that may be zero or negative; causalc reads braindecode's safe log, "
                          "log(clamp(x, min=1e-6))")
    return _activation("log")(r, node, attrs)


def greater(r, node, attrs):
    """x > k: only as PyTorch's Softplus writes it, Where(x > threshold, x, softplus(x))."""
    if node.input[0] not in r.values or node.input[1] in r.values:
        raise LayoutError("a comparison of the data; causalc reads the one in PyTorch's Softplus (x > threshold)")
    v = r.value(node.input[0])
    k = np.ravel(r.constant(node.input[1], "threshold"))
    if k.size != 1:
        raise LayoutError("a comparison with a constant of several values")
    return _value(spec=v.spec, idx=v.idx, channels=v.channels, time=v.time, above=float(k[0]))


def where(r, node, attrs):
    """Where(x > k, x, softplus(x)) is softplus(x) to float32 rounding when k >= 15 (PyTorch's threshold 20):
    above it softplus(x) - x = log1p(exp(-x)) < 3.1e-7, below a float32 ulp of x."""
    if not all(n in r.values for n in node.input):
        raise LayoutError("a selection with constants; causalc reads the one in PyTorch's Softplus")
    mask, a, b = (r.value(n) for n in node.input)
    layer = next((layer for layer in r.layers if layer.name == b.spec), None)
    if mask.above is None or mask.above < 15 or mask.spec != a.spec or layer is None or \
            layer.config.get("activation") != "softplus" or layer.inputs != (a.spec,):
        raise LayoutError("a selection by the data; causalc reads PyTorch's Softplus (Where(x > 20, x, "
                          "softplus(x)))")
    return b


def leaky_relu(r, node, attrs):
    return _unary("LeakyReLU", lambda a: {"negative_slope": float(a.get("alpha", 0.01))})(r, node, attrs)


def elu(r, node, attrs):
    return _unary("ELU", lambda a: {"alpha": float(a.get("alpha", 1.0))})(r, node, attrs)


OPS = {
    "Identity": identity, "Dropout": identity, "Transpose": transpose, "Squeeze": squeeze, "Unsqueeze": unsqueeze,
    "Reshape": reshape, "Flatten": flatten, "Conv": conv, "MaxPool": pool, "AveragePool": pool,
    "Relu": _activation("relu"), "Sigmoid": _activation("sigmoid"), "Tanh": _activation("tanh"),
    "Softplus": _activation("softplus"), "Softsign": _activation("softsign"), "Selu": _activation("selu"),
    "Exp": _activation("exponential"), "Mish": _activation("mish"), "HardSwish": _activation("hard_silu"), "Gelu": gelu, "HardSigmoid": hard_sigmoid,
    "LeakyRelu": leaky_relu, "Elu": elu, "PRelu": prelu, "Softmax": softmax, "LogSoftmax": softmax,
    "BatchNormalization": batch_norm, "Gemm": gemm, "MatMul": matmul, "Add": arithmetic, "Sub": arithmetic,
    "Mul": arithmetic, "Div": arithmetic, "Pow": arithmetic, "Sum": arithmetic, "Concat": concat, "Pad": pad,
    "Slice": slice_, "Gather": gather, "GlobalAveragePool": reduce, "GlobalMaxPool": reduce, "ReduceMean": reduce,
    "ReduceMax": reduce, "Clip": clip, "Log": log, "Greater": greater, "Where": where,
}
