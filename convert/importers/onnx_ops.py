"""The ONNX operators `causalc import` reads: each rule takes the reader, the node and its attributes and
returns the node's Value (see `onnx_model`), adding spec layers through `reader.add`. A rule raises
LayoutError when the node does something a per-step spec cannot say; the reader names the node."""

from __future__ import annotations

import math

import numpy as np

from convert.importers.onnx_conv import conv, pool
from convert.importers.onnx_layout import (LayoutError, Value, _features, _features_full, _per_channel, concat,
                                           flatten, gather, identity, reshape, slice_, squeeze, transpose,
                                           unsqueeze)


def _unary(type_name: str, config=lambda attrs: {}):
    def rule(r, node, attrs):
        v = r.value(node.input[0])
        name = r.add(node, type_name, [v.spec], config(attrs))
        return Value(spec=name, idx=v.idx, channels=v.channels, time=v.time)
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
    return Value(spec=name, idx=v.idx, channels=v.channels, time=v.time)


def prelu(r, node, attrs):
    v = r.value(node.input[0])
    slope = np.asarray(r.constant(node.input[1], "slope"), np.float64)
    channel_axis = slope.ndim - v.idx.ndim  # broadcast from the right, as ONNX does: axis 1 of the data
    if slope.size > 1 and (channel_axis < 0 or slope.shape[channel_axis] != slope.size):
        raise LayoutError(f"its slope has shape {slope.shape}; causalc reads one slope or one per channel")
    if slope.size not in (1, v.idx.shape[0] if v.idx.ndim else 1):
        raise LayoutError(f"its slope has shape {slope.shape}; causalc reads one slope or one per channel")
    name = r.add(node, "PReLU", [v.spec], {}, [_per_channel(v, slope, 0.0)])
    return Value(spec=name, idx=v.idx, channels=v.channels, time=v.time)


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
        return Value(spec=name, idx=np.arange(units), channels=units, time=None)
    if v.time == v.idx.ndim or any(d != 1 for a, d in enumerate(v.idx.shape[:-1], 1) if a != v.time):
        raise LayoutError("a MatMul over positions with channels not last; causalc reads (batch, W, C) @ (C, units)")
    features = np.take(_features(v), np.arange(v.idx.shape[-1]), axis=-1).reshape(-1)
    spec_kernel = np.zeros((v.channels, units))
    spec_kernel[features] = kernel
    name = r.add(node, "Dense", [v.spec], {"units": units, "use_bias": bias is not None},
                 [spec_kernel] + ([bias] if bias is not None else []))
    grid = np.indices(v.idx.shape[:-1] + (units,))
    return Value(spec=name, idx=grid[v.time - 1] * units + grid[-1], channels=units, time=v.time)


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
        return Value(spec=name, idx=v.idx, channels=v.channels, time=v.time)
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
    return Value(spec=name, idx=idx, channels=first.channels, time=first.time)


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
    return Value(spec=name, idx=grid[v.time - 1] * v.channels + np.expand_dims(_features(v), v.time - 1),
                  channels=v.channels, time=v.time)


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
    return Value(spec=name, idx=idx, channels=v.channels, time=None)


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
        return Value(spec=v.spec, idx=v.idx, channels=v.channels, time=v.time, floor=True)
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
    return Value(spec=v.spec, idx=v.idx, channels=v.channels, time=v.time, above=float(k[0]))


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
