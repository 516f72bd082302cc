"""Edits of a LiteRT file with 16-bit activations (TensorFlow's 16x8 mode), without which it is far from
the float step (`convert.runtime.quantize.litert_int8`, `wide`):

- `own_biases`: the converter keeps one tensor for equal constants, and a bias is quantised at the scale
  of its op's input times its weights: WaveNet's skip convolutions, whose biases are equal (they get equal
  gradients through the sum of skips), shared one bias at the first one's scale, and the other nine were
  14-18% off. Each fully connected op gets its own bias at its own scale.
- `float_tail`: 16x8 mode cannot leave ops float, and the output head in 16 bits moves a 256-way softmax's
  answer (the logits within 0.8%, the argmax at 37%): the head's ops are computed in float, with the float
  step's constants, after a DEQUANTIZE of what they read from the quantised body.

And of every int8 or 16-bit LiteRT step:

- `quantize_after_gathers`: the converter quantises a float input whole where it comes in, so the step
  quantised every ring, every step, and its cost grew with the receptive field (the RF x64 network's
  int8 step 0.06x its float step). Each GATHER that reads a ring's taps now reads the float ring, and its
  taps are quantised after it: the same integers (a gather moves values, its output has its input's scale).

All work on the flatbuffer's object form (tensorflow.lite.tools.flatbuffer_utils).
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np


def edited(content: bytes, float_content: bytes, tail: list[str]) -> bytes:
    """`content` (a 16x8 .tflite) with its own bias per op and the ops writing the tensors `tail` in float,
    their constants taken from `float_content` (the float file of the same step, tensors named alike)."""
    from tensorflow.lite.tools import flatbuffer_utils as fb

    model = fb.read_model_from_bytearray(bytearray(content))
    # the head first: its ops then hold the float step's constants (by name) and own_biases passes them by
    float_tail(model, fb.read_model_from_bytearray(bytearray(float_content)), set(tail))
    own_biases(model)
    quantize_after_gathers(model)
    return bytes(fb.convert_object_to_bytearray(model))


def gathers_quantised_after(content: bytes) -> bytes:
    """`content` (a quantised .tflite) with `quantize_after_gathers`."""
    from tensorflow.lite.tools import flatbuffer_utils as fb

    model = fb.read_model_from_bytearray(bytearray(content))
    quantize_after_gathers(model)
    return bytes(fb.convert_object_to_bytearray(model))


def quantize_after_gathers(model) -> int:
    """Each QUANTIZE of a float model input that only GATHERs read (as their data) dropped: each of those
    GATHERs reads the float input and writes a float tensor, which a QUANTIZE after it turns into the
    integer tensor the GATHER wrote before, at that tensor's scale. Returns how many GATHERs now read float."""
    schema = _schema()
    graph = model.subgraphs[0]
    readers: dict[int, list] = {}
    for op in graph.operators:
        for slot, index in enumerate(op.inputs):
            readers.setdefault(index, []).append((op, slot))
    moved: dict[int, tuple[int, int]] = {}  # id of a GATHER -> (the float input it reads, QUANTIZE's code)
    dropped = set()
    for op in graph.operators:
        if _opcode(model, op) != "QUANTIZE" or op.inputs[0] not in graph.inputs \
                or graph.tensors[op.inputs[0]].type != schema.TensorType.FLOAT32 or op.outputs[0] in graph.outputs:
            continue
        users = readers.get(op.outputs[0], [])
        if users and all(_opcode(model, user) == "GATHER" and slot == 0 for user, slot in users):
            dropped.add(id(op))
            moved.update({id(user): (op.inputs[0], op.opcodeIndex) for user, _ in users})
    operators = []
    for op in graph.operators:
        if id(op) in dropped:
            continue
        operators.append(op)
        if id(op) in moved:
            source, quantize = moved[id(op)]
            target = op.outputs[0]
            taps = _add_tensor(graph, graph.tensors[target].shape, f"{_name(graph.tensors[target])};float")
            op.inputs[0], op.outputs[0] = source, taps
            operators.append(_operator(quantize, [taps], [target]))
    graph.operators = operators
    return len(moved)


def _schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def _name(tensor) -> str:
    return tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name


def _opcode(model, op) -> str:
    from tensorflow.lite.tools import flatbuffer_utils as fb

    return fb.opcode_to_name(model, op.opcodeIndex)


def _constant(model, tensor) -> bool:
    data = model.buffers[tensor.buffer].data
    return data is not None and len(data) > 0


def own_biases(model) -> int:
    """Every FULLY_CONNECTED op's integer bias its own tensor at the scale input x weights (per tensor or per
    channel), requantised from the shared one; how many were replaced."""
    schema = _schema()
    graph = model.subgraphs[0]
    integer = {schema.TensorType.INT32: np.int32, schema.TensorType.INT64: np.int64}
    users = Counter(i for op in graph.operators for i in op.inputs)
    replaced = 0
    for op in graph.operators:
        if _opcode(model, op) != "FULLY_CONNECTED" or len(op.inputs) < 3 or op.inputs[2] < 0:
            continue
        x, w, b = (graph.tensors[i] for i in op.inputs[:3])
        if b.type not in integer or not (x.quantization and w.quantization and b.quantization) \
                or x.quantization.scale is None or w.quantization.scale is None or b.quantization.scale is None:
            continue
        want = np.float64(x.quantization.scale[0]) * np.asarray(w.quantization.scale, np.float64)
        have = np.asarray(b.quantization.scale, np.float64)
        if users[op.inputs[2]] == 1 and have.shape == want.shape and np.allclose(have, want, rtol=1e-6):
            continue
        dtype = integer[b.type]
        values = np.frombuffer(bytes(bytearray(model.buffers[b.buffer].data)), dtype=dtype).astype(np.float64) * have
        want = np.broadcast_to(want, values.shape) if want.size > 1 else want
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(np.round(values / want).astype(dtype).tobytes(), np.uint8)
        model.buffers.append(buffer)
        op.inputs[2] = _add_tensor(graph, b.shape, f"{_name(b)};own{replaced}", len(model.buffers) - 1, b.type)
        quantization = schema.QuantizationParametersT()
        quantization.scale = [float(s) for s in np.atleast_1d(want)]
        quantization.zeroPoint = [0] * len(quantization.scale)
        quantization.quantizedDimension = b.quantization.quantizedDimension
        graph.tensors[op.inputs[2]].quantization = quantization
        replaced += 1
    return replaced


def float_tail(model, reference, tail: set[str]) -> None:
    """The ops writing a tensor named in `tail` computed in float: their outputs float, their constants the
    float model `reference`'s (by name), what they read from quantised ops through a DEQUANTIZE; an output's
    DEQUANTIZE, now of a float tensor, dropped (the op before it writes the output)."""
    schema = _schema()
    graph = model.subgraphs[0]
    floats = {_name(t): t for t in reference.subgraphs[0].tensors}
    # by name, the suffix the quantiser gives a tensor it quantises (`y_int16`) aside; not the (de)quantising ops
    chosen = {k for k, op in enumerate(graph.operators) if _opcode(model, op) not in ("QUANTIZE", "DEQUANTIZE")
              and any(re.sub(r"_int(8|16)$", "", _name(graph.tensors[o])) in tail for o in op.outputs)}
    produced_by_chosen = {o for k in chosen for o in graph.operators[k].outputs}
    dequantize = _dequantize_code(model)
    operators, dequantised = [], {}
    for k, op in enumerate(graph.operators):
        if k in chosen:
            for slot, index in enumerate(op.inputs):
                if index < 0:
                    continue
                tensor = graph.tensors[index]
                if _constant(model, tensor):
                    op.inputs[slot] = _float_constant(model, reference, floats[_name(tensor)])
                elif index not in produced_by_chosen and tensor.type != schema.TensorType.FLOAT32:
                    if index not in dequantised:
                        dequantised[index] = _add_tensor(graph, tensor.shape, f"{_name(tensor)};float")
                        operators.append(_operator(dequantize, [index], [dequantised[index]]))
                    op.inputs[slot] = dequantised[index]
            for index in op.outputs:
                graph.tensors[index].type = schema.TensorType.FLOAT32
                graph.tensors[index].quantization = None
        operators.append(op)
    kept = []
    for op in operators:
        if _opcode(model, op) == "DEQUANTIZE" and graph.tensors[op.inputs[0]].type == schema.TensorType.FLOAT32:
            source, target = op.inputs[0], op.outputs[0]
            for other in operators:
                other.inputs = [target if i == source else i for i in other.inputs]
                other.outputs = [target if o == source else o for o in other.outputs]
            continue
        kept.append(op)
    graph.operators = kept


def _dequantize_code(model) -> int:
    schema = _schema()
    code = schema.BuiltinOperator.DEQUANTIZE
    for index, entry in enumerate(model.operatorCodes):
        if max(entry.builtinCode, entry.deprecatedBuiltinCode) == code:
            return index
    entry = schema.OperatorCodeT()
    entry.builtinCode, entry.deprecatedBuiltinCode, entry.version = code, code, 1
    model.operatorCodes.append(entry)
    return len(model.operatorCodes) - 1


def _add_tensor(graph, shape, name: str, buffer: int = 0, dtype=None) -> int:
    schema = _schema()
    tensor = schema.TensorT()
    tensor.shape, tensor.name, tensor.buffer = shape, name, buffer
    tensor.type = schema.TensorType.FLOAT32 if dtype is None else dtype
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _float_constant(model, reference, tensor) -> int:
    """A copy of the reference model's constant `tensor` in `model`; its index."""
    schema = _schema()
    buffer = schema.BufferT()
    buffer.data = reference.buffers[tensor.buffer].data
    model.buffers.append(buffer)
    return _add_tensor(model.subgraphs[0], tensor.shape, f"{_name(tensor)};float", len(model.buffers) - 1, tensor.type)


def _operator(code: int, inputs: list[int], outputs: list[int]):
    op = _schema().OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = code, inputs, outputs
    return op
