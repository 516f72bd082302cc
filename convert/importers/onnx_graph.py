"""An ONNX file read for import: the graph checked for what causalc reads (one float input, one output, no
external data, bounded sizes), and the constant subgraphs evaluated with NumPy — weights combined inside
the graph, pads and shapes computed by ops — so that the translator sees data-carrying nodes only.

A `Shape` of the input is constant too: the window is fixed; the batch is a marker (BATCH) that a Reshape
reads back as the batch axis. TensorFlow-free; needs the `onnx` package.
"""

from __future__ import annotations

import os

import numpy as np

from convert.importers.keras_layers import ModelImportError

MAX_ONNX_BYTES = 2 * 2**30  # protobuf's own limit for one file
MAX_NODES = 100_000
BATCH = 2**40 + 7  # the batch size in a folded shape: no real axis has it


def attributes(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def load(path: str):
    """The model, its external data read from its folder only; ModelImportError for what is not an ONNX
    model (or when the onnx package is missing)."""
    try:
        import onnx
    except ImportError:
        raise ModelImportError("reading ONNX models needs the onnx package: pip install onnx (or "
                               "'causalc[torch]' for the whole PyTorch journey)") from None

    if not os.path.isfile(path):
        raise ModelImportError(f"{path}: no such file")
    size = os.path.getsize(path)
    if size > MAX_ONNX_BYTES:
        raise ModelImportError(f"{path} is {size:,} bytes; an ONNX file holds at most {MAX_ONNX_BYTES:,}")
    try:
        with open(path, "rb") as handle:
            model = onnx.load_model_from_string(handle.read())
    except Exception as error:  # protobuf's DecodeError and others: not a model either way
        raise ModelImportError(f"{path}: cannot be read as an ONNX model ({type(error).__name__})") from None
    _load_external(model, path)
    try:  # types and shapes as ONNX defines them: a model onnxruntime would refuse is refused here
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # the checker's ValidationError and InferenceError
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise ModelImportError(f"{path} is not a valid ONNX model (onnx's checker: {first})") from None
    graph = model.graph
    if not graph.node or not graph.output:
        raise ModelImportError(f"{path}: an ONNX model with no nodes or no outputs")
    if len(graph.node) > MAX_NODES:
        raise ModelImportError(f"{path} has {len(graph.node):,} nodes; causalc reads up to {MAX_NODES:,}")
    if any(node.domain not in ("", "ai.onnx") for node in graph.node):
        domains = sorted({node.domain for node in graph.node if node.domain not in ("", "ai.onnx")})
        raise ModelImportError(f"{path}: uses operators of {', '.join(domains)}; causalc reads the standard ONNX "
                               "operators")
    return model


def _load_external(model, path: str) -> None:
    """Weights kept beside the model (torch's dynamo exporter writes MODEL.onnx.data): read from files in the
    model's own folder only, their sizes bounded before reading."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    folder = os.path.dirname(os.path.abspath(path))
    total = 0
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        target = os.path.realpath(os.path.join(folder, location))
        if os.path.dirname(target) != os.path.realpath(folder) or not os.path.isfile(target):
            raise ModelImportError(f"{path}: its weights name the external file {location!r}, which is not a file "
                                   "beside the model")
        total += int(info.get("length", os.path.getsize(target)))
    if total > MAX_ONNX_BYTES:
        raise ModelImportError(f"{path}: its external weights are {total:,} bytes; causalc reads up to "
                               f"{MAX_ONNX_BYTES:,}")
    if total:
        try:
            load_external_data_for_model(model, folder)
        except Exception as error:  # a truncated or unreadable data file
            raise ModelImportError(f"{path}: its external weights cannot be read ({type(error).__name__}: "
                                   f"{str(error)[:200]})") from None


def initial_constants(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}


def graph_inputs(graph) -> list:
    """The graph's real inputs: not initializers (older exporters list weights as inputs too)."""
    weights = {tensor.name for tensor in graph.initializer}
    return [value for value in graph.input if value.name not in weights]


def static_shape(value) -> list:
    """A value_info's shape: ints, None for a named or unknown dimension."""
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def _axes(node, inputs: list, values: dict, attrs: dict, rank: int):
    axes = values[inputs[1]] if len(inputs) > 1 and inputs[1] else attrs.get("axes")
    return None if axes is None else [int(a) % rank for a in np.ravel(axes)]


def _slice(data, inputs, values, attrs):
    if "starts" in attrs:  # opset < 10
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    else:
        starts, ends = values[inputs[1]], values[inputs[2]]
        axes = values[inputs[3]] if len(inputs) > 3 and inputs[3] else None
        steps = values[inputs[4]] if len(inputs) > 4 and inputs[4] else None
    axes = list(range(len(starts))) if axes is None else [int(a) % data.ndim for a in np.ravel(axes)]
    steps = [1] * len(axes) if steps is None else [int(s) for s in np.ravel(steps)]
    index = [slice(None)] * data.ndim
    for axis, start, end, step in zip(axes, np.ravel(starts), np.ravel(ends), steps):
        index[axis] = slice(int(max(min(start, 2**62), -2**62)), int(max(min(end, 2**62), -2**62)), step)
    return data[tuple(index)]


def _reshape(data, shape, allowzero=0):
    shape = [int(d) for d in np.ravel(shape)]
    shape = [data.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(shape)]
    return data.reshape(shape)


MAX_CONSTANT = 100_000_000  # values in one folded constant


def _bounded(shape) -> list[int]:
    """A shape a folded constant may take: a hostile graph asks ConstantOfShape or Expand for terabytes."""
    dims = [int(d) for d in np.ravel(shape)]
    if any(d < 0 for d in dims) or int(np.prod(dims, dtype=np.float64)) > MAX_CONSTANT:
        raise ModelImportError(f"a constant of shape {dims} ({float(np.prod(dims, dtype=np.float64)):.3g} values); "
                               f"causalc folds constants of up to {MAX_CONSTANT:,} values")
    return dims


def evaluate(op: str, inputs: list, values: dict, attrs: dict):
    """A node whose inputs are all constants, evaluated with NumPy; None for an op this cannot evaluate."""
    out = _evaluate(op, inputs, values, attrs)
    if out is not None and out.size > MAX_CONSTANT:
        _bounded(out.shape)
    return out


def _evaluate(op: str, inputs: list, values: dict, attrs: dict):
    x = [values[name] if name else None for name in inputs]
    a = x[0] if x else None
    simple = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Equal": np.equal, "Less": np.less,
              "Greater": np.greater, "And": np.logical_and, "Or": np.logical_or, "Max": np.maximum, "Min": np.minimum}
    if op in simple:
        out = simple[op](x[0], x[1])
        for more in x[2:]:
            out = simple[op](out, more)
        return np.asarray(out)
    if op == "Div":
        return np.asarray(a // x[1] if np.issubdtype(a.dtype, np.integer) else a / x[1])
    unary = {"Neg": np.negative, "Sqrt": np.sqrt, "Abs": np.abs, "Not": np.logical_not, "Floor": np.floor,
             "Ceil": np.ceil, "Exp": np.exp, "Log": np.log, "Reciprocal": np.reciprocal, "Identity": lambda v: v}
    if op in unary:
        return np.asarray(unary[op](a))
    if op == "Pow":
        return np.asarray(np.power(a, x[1]), a.dtype)
    if op == "Cast":
        import onnx

        return a.astype(onnx.helper.tensor_dtype_to_np_dtype(attrs["to"]))
    if op == "Reshape":
        return _reshape(a, x[1], attrs.get("allowzero", 0))
    if op == "Transpose":
        return np.transpose(a, attrs.get("perm"))
    if op == "Squeeze":
        axes = _axes(None, inputs, values, attrs, a.ndim)
        return np.squeeze(a, tuple(axes) if axes is not None else None)
    if op == "Unsqueeze":
        axes = _axes(None, inputs, values, attrs, a.ndim + len(np.ravel(x[1] if len(x) > 1 and x[1] is not None
                                                                         else attrs.get("axes"))))
        out = a
        for axis in sorted(axes):
            out = np.expand_dims(out, axis)
        return out
    if op == "Concat":
        return np.concatenate([v for v in x if v is not None], axis=attrs["axis"])
    if op == "Gather":
        return np.take(a, x[1].astype(np.int64), axis=attrs.get("axis", 0))
    if op == "Slice":
        return _slice(a, inputs, values, attrs)
    if op == "Shape":
        shape = np.asarray(a.shape, np.int64)
        return shape[attrs.get("start", 0):attrs.get("end", None)]
    if op == "Size":
        return np.asarray(a.size, np.int64)
    if op == "ConstantOfShape":
        fill = attrs.get("value")
        from onnx import numpy_helper

        fill = numpy_helper.to_array(fill).ravel()[0] if fill is not None else np.float32(0)
        return np.full(_bounded(a), fill)
    if op == "Range":
        _bounded([max(int(np.ceil((float(x[1]) - float(a)) / float(x[2]))), 0)] if float(x[2]) else [0])
        return np.arange(a, x[1], x[2]).astype(a.dtype)
    if op == "Expand":
        target = np.broadcast_shapes(a.shape, tuple(_bounded(x[1])))
        _bounded(target)
        return np.broadcast_to(a, target).copy()
    if op == "Tile":
        _bounded(np.asarray(a.shape) * np.asarray(_bounded(x[1])))
        return np.tile(a, [int(d) for d in np.ravel(x[1])])
    if op == "Where":
        return np.where(x[0], x[1], x[2])
    if op in ("ReduceSum", "ReduceMean", "ReduceProd", "ReduceMax", "ReduceMin"):
        axes = _axes(None, inputs, values, attrs, a.ndim) if op == "ReduceSum" or len(inputs) > 1 \
            else attrs.get("axes")
        axes = None if axes is None else tuple(int(v) % a.ndim for v in axes)
        fn = {"ReduceSum": np.sum, "ReduceMean": np.mean, "ReduceProd": np.prod, "ReduceMax": np.max,
              "ReduceMin": np.min}[op]
        return np.asarray(fn(a, axis=axes, keepdims=bool(attrs.get("keepdims", 1))), a.dtype)
    if op == "MatMul":
        return np.matmul(a, x[1])
    if op == "Gemm":
        left = a.T if attrs.get("transA", 0) else a
        right = x[1].T if attrs.get("transB", 0) else x[1]
        out = attrs.get("alpha", 1.0) * (left @ right)
        if len(x) > 2 and x[2] is not None:
            out = out + attrs.get("beta", 1.0) * x[2]
        return np.asarray(out, a.dtype)
    if op == "Einsum":
        return np.einsum(attrs["equation"].decode() if isinstance(attrs["equation"], bytes) else attrs["equation"],
                         *x)
    if op == "Flatten":
        axis = attrs.get("axis", 1) % max(a.ndim, 1)
        return a.reshape(int(np.prod(a.shape[:axis])), -1)
    if op == "Sum":
        return np.asarray(sum(x))
    return None
