"""Convolutions and pools read from ONNX: 1-D, and 2-D over (time, electrodes) as EEG networks write them,
with their padding, dilation, groups and PyTorch's floor (a Cropping1D before a layer that leaves the
newest positions unread)."""

from __future__ import annotations

import numpy as np

from convert.importers.onnx_layout import LayoutError, Value, _features


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
    return Value(spec=name, idx=idx, channels=m * out_s, time=2 + t if width > 1 else None)


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
    return Value(spec=name, idx=idx, channels=v.channels, time=v.time if out > 1 else None)
