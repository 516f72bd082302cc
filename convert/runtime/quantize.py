"""int8 steps (`causalc export-step --quantize int8 --calibration FILE`): the exported float step quantised
with a calibration recording, then checked against the float step on it.

Calibration runs the float step over the recording and keeps every input of the step at evenly spaced steps
(the signal's value, t and every ring as the step reads them), so the rings are calibrated on the values they
hold, not on zeros. Then:

- LiteRT: full-integer (TFLITE_BUILTINS_INT8): every op on int8 tensors, its inputs and outputs float32
  (quantised as they come in, dequantised as they go out), so the host drives it as the float step. It is
  traced from the step computed apart (`StreamingModel.apart`): an int8 split of a shared matmul or an
  n-way sum gives every tensor it touches one scale. The converter quantises each ring whole as it comes
  in, a cost that grows with the receptive field; after conversion each ring read (GATHER) is made to read
  the float ring and its taps are quantised after it (`convert.runtime.tflite_edits.quantize_after_gathers`),
  so that the cost per step does not grow with the rings.
- ONNX: static QDQ quantisation by onnxruntime.quantization, int8 weights (per channel) and activations; the
  ring reads (Gather) stay float, so the rings stay float inputs that nothing quantises whole per step.

Both leave the output head after the last merge float (`output_tail`, `litert_tail`). When the int8 step's
argmax agrees with the float step's on less than 90% of the calibration steps (a network whose answers are
near ties, as a briefly trained WaveNet's 256-way softmax), the step is quantised again with int16
activations and int8 weights (ONNX: QDQ at opset 21; LiteRT: its 16x8 mode, edited after conversion so that
each op has its own bias and the head is float, `convert.runtime.tflite_edits`) and kept if it agrees
better; step.json says which (`activations`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile

import numpy as np

from convert.core.errors import CausalcError

SAMPLES = 200  # calibration samples (the step's inputs at evenly spaced steps of the recording), at most
MEMORY = 2**29  # bytes the samples may take (each holds every ring): fewer samples for a large state
CHECKED = 20_000  # steps of the recording the int8 step is checked over, at most
POOR_AGREEMENT, POOR_ERROR = 0.9, 0.1  # below this argmax agreement, or above this relative error: said so


class QuantizeError(CausalcError, ValueError):
    """The step cannot be quantised: an op has no int8 form, or the calibration recording cannot be used."""


def samples(runner, arrays: list, count: int = SAMPLES) -> list[dict]:
    """The float step's inputs (by name) at `count` steps evenly spaced over the recording `arrays` (as the
    practice model takes them), fed to `runner` (a float StepRunner) from its initial state; fewer when
    they would take more than MEMORY bytes."""
    runner.reset()
    steps = _length(runner, arrays)
    size = sum(value.nbytes for value in runner.state().values()) + sum(
        4 * int(np.prod(i["shape"])) for i in runner.inputs)
    count = max(1, min(count, steps, MEMORY // max(size, 1)))
    chosen = set(np.linspace(0, steps - 1, count).round().astype(int).tolist())
    out = []
    for k, values in enumerate(runner.at_steps(arrays, steps)):
        if k in chosen:
            feed = {i["name"]: np.asarray(v, i["dtype"]).reshape(i["shape"]) for v, i in zip(values, runner.inputs)}
            out.append({**feed, **runner.state()})
        runner.step(*values)
    runner.reset()
    return out


def _length(runner, arrays: list) -> int:
    return next(a.shape[1] for a, i in zip(arrays, runner.inputs) if not (i["hop"] or i["global"]))


def agreement(float_runner, int8_runner, arrays: list) -> dict:
    """The int8 step against the float step over (at most CHECKED steps of) the recording: for an output of
    several units that is not a regression fed back (a classifier's scores, levels fed back) the share of
    steps whose argmax agrees; for every output its relative error (RMS of the difference / RMS of the
    float output) and the largest difference."""
    steps = min(_length(float_runner, arrays), CHECKED)
    cut = [a if i["hop"] or i["global"] else a[:, :steps] for a, i in zip(arrays, float_runner.inputs)]
    float_runner.reset()
    int8_runner.reset()
    want, got = float_runner.run(cut), int8_runner.run(cut)
    float_runner.reset()
    int8_runner.reset()
    m = float_runner.manifest
    # a classifier's or detector's scores (never fed back) or levels fed back: their argmax is the answer
    categorical = m["feedback"] is None or m["feedback"]["kind"] != "regression"
    scale = float(np.sqrt(np.mean(np.square(want)))) or 1.0
    report = {"steps": steps, "relative_error": float(np.sqrt(np.mean(np.square(got - want)))) / scale,
              "largest_difference": float(np.max(np.abs(got - want))) if want.size else 0.0}
    if categorical and want.shape[-1] > 1:
        report["argmax_agreement"] = float(np.mean(np.argmax(got, -1) == np.argmax(want, -1)))
    return report


def words(report: dict, size: int, float_size: int) -> str:
    """The report in one line, as export-step prints it."""
    said = f"{size / 1e6:.2f} MB, {100 * size / float_size:.0f}% of the float step's {float_size / 1e6:.2f} MB; "
    if "argmax_agreement" in report:
        said += f"argmax agrees with the float step at {100 * report['argmax_agreement']:.1f}% of "
    else:
        said += f"relative error {report['relative_error']:.2%} against the float step over "
    said += f"{report['steps']:,} calibration steps"
    if report.get("argmax_agreement", 1.0) < POOR_AGREEMENT or report["relative_error"] > POOR_ERROR:
        said += " -- far from the float step: check it on your data before deploying it, or deploy the float step"
    return said


# ---- LiteRT ----

def litert_int8(concrete, module, calibration: list[dict], names: list[str], graph, float_content: bytes,
                wide: bool = False) -> bytes:
    """A full-integer .tflite of the (frozen) step `concrete` (`float_content`: its float file), calibrated on
    `calibration` (the step's inputs by name, `names` in signature order), but for the output head (see
    `litert_tail`); an op without an int8 kernel is a QuantizeError naming the layer it belongs to (of
    `graph`'s layers). `wide`: int8 weights and int16 activations (LiteRT's 16x8 mode), edited after
    conversion (`convert.runtime.tflite_edits`: each op its own bias, the head in float), without which
    it is far from the float step."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    dataset = lambda: ({name: sample[name] for name in names} for sample in calibration)  # noqa: E731
    converter.representative_dataset = dataset
    # 16x8: the ring indices' integer ops (FLOOR_MOD) have no 16-bit form and stay as they are
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS] if wide else [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # one scale per weight tensor, not per channel: the per-channel scales and zero points (12 bytes a
    # channel, weights and biases) take a quarter of a small network's file (specs/matchboxnet.yaml: 40% of
    # the float file, 30% without), and the trained classifiers agree as well (benchmarks/quantize.py)
    converter._experimental_disable_per_channel = True
    # float inputs and outputs, quantised and dequantised inside: LiteRT's converter (TensorFlow 2.21) given
    # int8 inputs mis-wires an input that an output passes through unchanged (a ring's column that is the
    # input itself), which a step of 'same' padding has
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
    tail = litert_tail(float_content)
    try:
        with _quiet():  # the calibrator's deprecation warning and its C++ line are not for users
            if wide:  # 16x8 mode leaves no op float: the head is made float after conversion
                from convert.runtime.tflite_edits import edited

                return edited(converter.convert(), float_content, tail)
            from convert.runtime.tflite_edits import gathers_quantised_after

            if not tail:
                return gathers_quantised_after(converter.convert())
            options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=tail, fully_quantize=False)
            debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset,
                                                                 debug_options=options)
            return gathers_quantised_after(debugger.get_nondebug_quantized_model())
    except Exception as error:  # the converter raises ConverterError, or a RuntimeError from its calibrator
        raise QuantizeError(_unquantisable(str(error), graph, "LiteRT")) from None


def litert_tail(content: bytes) -> list[str]:
    """The output tensors of the ops from y back to the last merge before it, as `output_tail` (ONNX)."""
    import tensorflow as tf

    with _quiet():
        interpreter = tf.lite.Interpreter(model_content=content)
    ops = interpreter._get_ops_details()
    tensors = {d["index"]: d["name"] for d in interpreter.get_tensor_details()}
    producers = {out: op for op in ops for out in op["outputs"]}
    outputs = interpreter.get_signature_runner().get_output_details()
    index = outputs["y"]["index"]
    tail = []
    while index in producers:
        op = producers[index]
        tail.append(tensors[index])
        inputs = [i for i in op["inputs"] if i in producers]
        if len(inputs) != 1:
            break
        index = inputs[0]
    return tail


@contextlib.contextmanager
def _quiet():
    """The quantisers' advice and deprecation warnings (Python's warnings, the root logger, LiteRT's C++ lines)
    are not for causalc's users; CAUSALC_DEBUG=1 keeps them."""
    import logging
    import warnings

    from convert.core.quiet import quiet_stderr

    if os.environ.get("CAUSALC_DEBUG"):
        yield
        return
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), quiet_stderr():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _unquantisable(message: str, graph, runtime: str) -> str:
    """The converter's complaint in causalc's words: the layers whose ops it names, and what to do."""
    names = sorted({layer.name for layer in graph.layers if re.search(rf"\b{re.escape(layer.name)}\b", message)},
                   key=len, reverse=True)
    ops = sorted(set(re.findall(r"'(?:tf|tfl)\.(\w+)'", message)))
    first = next((line.strip() for line in message.splitlines() if "error" in line.lower()), message.strip()[:300])
    where = f"layer {names[0]}" if names else "a layer of the step"
    what = f" ({', '.join(ops)})" if ops else ""
    return (f"{where}{what} cannot be quantised to int8 by {runtime}: {first}; export the float step (without "
            "--quantize) or replace that layer's kind")


# ---- ONNX ----

GATHERS = ("Gather", "GatherElements", "GatherND")  # a ring read: quantised, each step would quantise the whole ring


def onnx_int8(content: bytes, calibration: list[dict], wide: bool = False) -> bytes:
    """QDQ int8 ONNX of the float step `content`, calibrated on `calibration`; its I/O stays float. `wide`:
    int8 weights and int16 activations (the model is moved to opset 21, which has 16-bit Q/DQ)."""
    try:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.registry import QDQRegistry
    except ImportError:
        raise QuantizeError("int8 ONNX needs onnxruntime's quantisation tools: pip install 'causalc[onnx]'") from None

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(calibration)

        def get_next(self):
            return next(self.samples, None)

    model = onnx.load_from_string(content)
    kinds = sorted(k for k in QDQRegistry if k not in GATHERS)
    tail = output_tail(model.graph)
    with tempfile.TemporaryDirectory(prefix="causalc-int8-") as folder:
        path = os.path.join(folder, "step-int8.onnx")
        try:
            with _quiet():
                quantize_static(model, path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QInt16 if wide else QuantType.QInt8,
                                weight_type=QuantType.QInt8,
                                op_types_to_quantize=kinds, nodes_to_exclude=tail,
                                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        except Exception as error:
            raise QuantizeError(f"onnxruntime cannot quantise the step: {error}") from None
        quantised = onnx.load(path)
    _short_names(quantised.graph)
    return quantised.SerializeToString()


def output_tail(graph) -> list[str]:
    """The nodes from the output y back to the last merge before it (the output head: WaveNet's ReLU, 1x1
    convolutions and softmax after the sum of skips; a classifier's last layer), which stay float: a softmax
    over 256 levels in int8 resolves probabilities to 1/256 and the argmax that sampling and classification
    read is lost in ties (specs/wavenet.yaml trained: 63% of next-sample argmaxes agree with the head in int8,
    83% with it float; benchmarks/quantize.py)."""
    producers = {out: node for node in graph.node for out in node.output}
    constants = {tensor.name for tensor in graph.initializer}
    tail, name = [], "y"
    while name in producers:
        node = producers[name]
        tail.append(node.name)
        inputs = [i for i in node.input if i in producers and i not in constants and producers[i].op_type != "Constant"]
        if len(inputs) != 1:  # a merge before the output layer's product: the tail ends here
            break
        name = inputs[0]
    return tail


def _short_names(graph) -> None:
    """Every node's name dropped and every inner tensor named by a number: the names tf2onnx and the quantiser
    give (a TensorFlow path with a suffix per Q/DQ node) take a fifth of a small network's int8 file. The graph's
    inputs and outputs keep theirs (step.json names them)."""
    kept = {value.name for value in list(graph.input) + list(graph.output)}
    renamed: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in kept:
            return name
        return renamed.setdefault(name, f"v{len(renamed)}")

    for tensor in graph.initializer:
        tensor.name = short(tensor.name)
    for node in graph.node:
        node.name = ""
        node.input[:] = [short(name) for name in node.input]
        node.output[:] = [short(name) for name in node.output]
    for value in graph.value_info:
        value.name = short(value.name)


# ---- the int8 step beside the float one ----

def quantize_step(manifest: dict, state: dict | None, content: bytes, runtime: str, arrays: list, convert):
    """(int8 file's bytes, its report in words, what step.json says of it: the calibration report and sizes) for the float step `content`
    (`runtime`: onnx or litert) with `manifest` and initial `state`, calibrated on the recording `arrays` (a
    batch axis, the step's batch); `convert(calibration, wide)` quantises (wide: int16 activations; an
    error there keeps the int8 step)."""
    from convert.deploy.runner import StepRunner

    if state is None:
        raise QuantizeError("an int8 step is calibrated from the step's initial state, which exact warm-up's "
                            "global inputs decide: export with --warmup causal")
    float_runner = StepRunner.in_memory(manifest, state, content, runtime)
    calibration = samples(float_runner, arrays)
    quantised = convert(calibration, False)
    report = agreement(float_runner, StepRunner.in_memory(manifest, state, quantised, runtime), arrays)
    activations, narrow = "int8", None
    if report.get("argmax_agreement", 1.0) < POOR_AGREEMENT:  # int8 activations lose the answer: 16-bit ones
        try:  # a step whose ops have no 16-bit form keeps its int8 activations
            wide = convert(calibration, True)
            wide_report = agreement(float_runner, StepRunner.in_memory(manifest, state, wide, runtime), arrays)
        except Exception:  # noqa: BLE001 - the converter's and the runtime's errors alike
            wide, wide_report = None, {"argmax_agreement": 0.0}
        better = (wide_report["argmax_agreement"], -wide_report.get("relative_error", 1.0)) > \
            (report["argmax_agreement"], -report["relative_error"])
        if better:
            narrow = report["argmax_agreement"]
            quantised, report, activations = wide, wide_report, "int16"
    said = words(report, len(quantised), len(content))
    if narrow is not None:
        said = (f"weights int8, activations int16 (with int8 activations the argmax agreed at {100 * narrow:.1f}% "
                f"only); {said}")
    entry = {"calibration": report, "bytes": len(quantised), "float_bytes": len(content), "weights": "int8",
             "activations": activations}
    return quantised, said, entry
