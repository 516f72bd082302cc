"""`causalc import MODEL.onnx`: a per-step model exported to ONNX (torch.onnx.export, either exporter; any
framework) read as a spec and the spec layers' weights. TensorFlow-free; needs the `onnx` package.

Every data-carrying ONNX tensor is one spec tensor laid out somehow: its `idx` array (the tensor's shape
without the batch axis) holds, for each element, the index of the spec value it is — t * F + f for a
tensor over positions (F spec channels), the flattened index for a flat one. Layout-only nodes
(Transpose, Squeeze, Unsqueeze, Reshape, Identity, Dropout) transform `idx` and add no layer, so PyTorch's
channels-first (batch, C, W), an EEG network's (batch, 1, W, electrodes) and Keras's (batch, W, C) all
read the same way; data nodes add spec layers whose weights are gathered through `idx`. A 2-D convolution
over (time, electrodes) is a Conv1D over time whose kernel maps every (channel, electrode) pair to its
outputs; a Linear after a Flatten of channels-first data reads the rows in the order `idx` gives.
"""

from __future__ import annotations

import os
import re

import numpy as np

from convert.frontend.spec import INPUT, Input, Layer, Spec
from convert.frontend.writer import spec_text
from convert.importers import onnx_graph
from convert.importers.keras_layers import ModelImportError, fields
from convert.importers.onnx_layout import LayoutError, Value
from convert.importers.onnx_ops import OPS


class Reader:
    """One pass over the graph: constants folded, layout nodes followed, spec layers and weights built."""

    def __init__(self, model, path: str):
        self.path = path
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.constants = onnx_graph.initial_constants(self.graph)
        self.values: dict[str, Value] = {}
        self.layers: list[Layer] = []
        self.weights: dict[str, list[np.ndarray]] = {}
        self.readers: dict[str, int] = {}
        self.problems: list[str] = []
        self.names: set[str] = {INPUT}
        self.same = False
        self.batch: int | None = None  # the input's batch size when the file fixes it

    # ---- what op rules call ----

    def name(self, node, op: str, suffix: str = "") -> str:
        """A spec name from the node's: `/block/conv/Conv` -> `block_conv`, unique."""
        base = node.name.strip("/")
        if base.endswith("/" + node.op_type):
            base = base[: -len(node.op_type) - 1]
        base = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", base)).strip("_") or op.lower()
        base += suffix
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def add(self, node, type_name: str, inputs, config: dict, weights=None, suffix: str = "") -> str:
        name = self.name(node, type_name, suffix)
        config = {k: _short(v) for k, v in config.items()}
        self.layers.append(Layer(name=name, type=type_name, inputs=tuple(inputs),
                                 config=fields(type_name, name, config)))
        if weights is not None:
            self.weights[name] = [np.asarray(w, np.float32) for w in weights]
        if type_name == "ZeroPadding1D":
            self.same = True
        return name

    def constant(self, name: str, what: str) -> np.ndarray:
        if name not in self.constants:
            raise LayoutError(f"its {what} is computed from the input; causalc reads constant {what}s")
        return self.constants[name]

    def value(self, name: str) -> Value:
        return self.values[name]

    # ---- the pass ----

    def input_value(self, time_axis: int) -> tuple[Value, Input]:
        inputs = onnx_graph.graph_inputs(self.graph)
        if len(inputs) != 1:
            raise ModelImportError(f"{self.path}: the model takes {len(inputs)} inputs; an ONNX model imports "
                                   "with one (batch, channels, window) input")
        shape = onnx_graph.static_shape(inputs[0])
        self.batch = shape[0] if shape else None
        if len(shape) not in (3, 4) or any(d is None for d in shape[1:]):
            raise ModelImportError(f"{self.path}: the input's shape is {shape}; a per-step model takes (batch, C, W), "
                                   "(batch, W, C) or (batch, 1, W, electrodes) with every size but the batch fixed "
                                   "(export with a fixed window)")
        dims = shape[1:]
        window = dims[time_axis - 1]
        others = [d for a, d in enumerate(dims) if a != time_axis - 1]
        channels = int(np.prod(others))
        grid = np.indices(dims)
        feature = np.zeros(dims, np.int64)
        for a in [a for a in range(len(dims)) if a != time_axis - 1]:
            feature = feature * dims[a] + grid[a]
        idx = grid[time_axis - 1] * channels + feature
        return Value(INPUT, idx, channels, time_axis if window > 1 else None), Input(INPUT, channels, window)

    def run(self, time_axis: int):
        start, node_input = self.input_value(time_axis)
        self.values[onnx_graph.graph_inputs(self.graph)[0].name] = start
        for node in self.graph.node:
            for name in node.input:
                if name in self.values:
                    self.readers[name] = self.readers.get(name, 0) + 1
        for node in self.graph.node:
            attrs = onnx_graph.attributes(node)
            if node.op_type == "Constant":
                self.constants[node.output[0]] = _constant(attrs)
                continue
            data = [n for n in node.input if n and n in self.values]
            if not data:  # a constant subgraph
                folded = onnx_graph.evaluate(node.op_type, list(node.input), self.constants, attrs)
                if folded is None:
                    raise ModelImportError(f"node `{node.name}` ({node.op_type}) computes a constant causalc cannot "
                                           "evaluate")
                self.constants[node.output[0]] = folded
                continue
            if node.op_type == "Shape":  # of data: the fixed shape, the batch a marker
                shape = np.array([self.batch or onnx_graph.BATCH, *self.values[data[0]].idx.shape], np.int64)
                self.constants[node.output[0]] = shape[attrs.get("start", 0):attrs.get("end", None)]
                continue
            rule = OPS.get(node.op_type)
            if rule is None:
                self.problems.append(f"node `{node.name}` ({node.op_type}): an operator causalc does not read")
                self.values[node.output[0]] = self.values[data[0]]
                continue
            try:
                out = rule(self, node, attrs)
            except LayoutError as error:
                if self.problems:
                    break  # most likely a consequence of the problems already found
                raise ModelImportError(f"node `{node.name}` ({node.op_type}): {error}") from None
            for name, value in zip(node.output, out if isinstance(out, list) else [out]):
                self.values[name] = value
            for name in data:
                if self.values[name].above is not None and node.op_type != "Where":
                    raise ModelImportError(f"node `{node.name}` ({node.op_type}) reads a comparison's mask; causalc "
                                           "reads the one in PyTorch's Softplus")
                if self.values[name].cropped and node.op_type not in ("Add", "Mul", "Sub", "Concat", "Sum"):
                    raise ModelImportError(f"node `{node.name}` ({node.op_type}) reads a tensor cut by a Slice; causalc "
                                           "reads such cuts only where a merge aligns two tensors")
        if self.problems:
            count = f"{len(self.problems)} nodes cannot be read" if len(self.problems) > 1 else "a node cannot be read"
            raise ModelImportError(f"{count}:\n" + "\n".join(f"  - {p}" for p in self.problems))
        output = self.graph.output[0].name
        if len(self.graph.output) > 1:
            raise ModelImportError(f"{self.path}: the model has {len(self.graph.output)} outputs; a spec has one")
        if output not in self.values:
            raise ModelImportError(f"{self.path}: the output does not depend on the input")
        last = self.values[output]
        if last.time is not None:
            raise ModelImportError(f"{self.path}: the output keeps {last.width} positions; a per-step model gives one "
                                   "prediction per window")
        if last.spec == INPUT:
            raise ModelImportError(f"{self.path}: the model computes nothing from its input")
        return node_input, last


def _short(value):
    """A float attribute (float32 in the file) at the shortest decimal that is the same float32: 0.01."""
    if isinstance(value, float):
        return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))
    return value


def _constant(attrs: dict) -> np.ndarray:
    from onnx import numpy_helper

    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64)):
        if key in attrs:
            return np.asarray(attrs[key], dtype)
    for key, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
        if key in attrs:
            return np.asarray(list(attrs[key]), dtype)
    raise ModelImportError("a Constant node of a kind causalc does not read (sparse or string)")


def read(path: str) -> tuple[Spec, dict, dict]:
    """(the spec, its layers' weights in per-step shapes, what was found) of an ONNX per-step model. The
    time axis is the one the graph convolves over: PyTorch's last axis first, then the others."""
    model = onnx_graph.load(path)
    inputs = onnx_graph.graph_inputs(model.graph)
    if not inputs:
        raise ModelImportError(f"{path}: the model takes no input")
    rank = len(onnx_graph.static_shape(inputs[0]))
    sizes = onnx_graph.static_shape(inputs[0])
    candidates = [a for a in range(rank - 1, 0, -1) if sizes[a] is None or sizes[a] > 1] or [rank - 1]
    first_error = None
    for time_axis in candidates:
        reader = Reader(model, path)
        try:
            node_input, last = reader.run(time_axis)
        except ModelImportError as error:
            first_error = first_error or error
            continue
        except (ValueError, IndexError, KeyError, TypeError) as error:
            first_error = first_error or ModelImportError(
                f"{path}: a node holds values causalc cannot read as ONNX writes them ({type(error).__name__}: "
                f"{str(error)[:200]})")
            continue
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.splitext(os.path.basename(path))[0]).lstrip(".") or "model"
        spec = Spec(name=name, path=path, inputs=(node_input,), layers=tuple(reader.layers), output=last.spec,
                    same_padding="exact" if reader.same else None)
        shape = onnx_graph.static_shape(inputs[0])
        layout = "(batch, " + ", ".join("W" if a == time_axis else str(d) for a, d in enumerate(shape) if a) + ")"
        found = {"window": node_input.window, "channels": node_input.channels, "layers": len(reader.layers),
                 "spec": spec, "practice_form": False, "time_axis": time_axis, "input_idx": reader.values[
                     inputs[0].name].idx, "output_idx": last.idx, "input_name": inputs[0].name,
                 "header": f"Imported by causalc from {os.path.basename(path)} (a per-step ONNX model, window "
                           f"{node_input.window}; its input {layout} is read as (batch, W, {node_input.channels}))."}
        return spec, reader.weights, found
    raise first_error


def spec_from_onnx(path: str) -> tuple[str, dict]:
    spec, weights, found = read(path)
    found["weights"] = weights
    return spec_text(spec, header=found["header"]), found
