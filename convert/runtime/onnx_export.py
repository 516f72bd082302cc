"""ONNX export: the practice model (dynamic batch and sequence length) and the streaming step with its state
as explicit inputs and outputs, converted from TensorFlow graphs by tf2onnx and checked with ONNX Runtime.

The step reads `x` (or one `x_NAME` per input), `t` and every `ring_*`, and returns `y` and one
`ring_*_column` per ring, which the host writes at row t % length of its ring before adding 1 to t
(step.json says so; `convert.deploy.runner` is the loop).
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import tensorflow as tf

from convert.core.errors import CausalcError
from convert.runtime.compare import relative_error
from convert.runtime.export import step_function

OPSET = 17  # ONNX Runtime from 1.13 and most other runtimes run it
ROUNDS = 8  # tf2onnx's optimiser passes, at most (see _bounded_optimiser)
LIMIT = 2**31 - 2**26  # one protobuf message holds less than 2 GiB; a little is left for the graph itself


class OnnxError(CausalcError, RuntimeError):
    """The model cannot be exported to ONNX here: the converter is missing, an op has no ONNX form, or the
    model is too large for one file."""


def _converter():
    try:
        import tf2onnx
        import tf2onnx.convert
        import tf2onnx.optimizer  # noqa: F401  (bounded while converting)
    except ImportError:
        raise OnnxError("ONNX export needs tf2onnx and onnx: pip install 'causalc[onnx]'") from None
    return tf2onnx


def practice_function(model, nodes):
    """The practice model as a tf.function of its inputs (named as the spec's inputs; batch and length
    dynamic) returning {"y": (batch, T, units)}."""
    signature = [tf.TensorSpec(tensor.shape, tensor.dtype, name=node.name) for node, tensor in zip(nodes, model.inputs)]

    @tf.function(input_signature=signature, autograph=False)
    def practice(*xs):
        return {"y": model(list(xs) if len(xs) > 1 else xs[0], training=False)}

    return practice


def convert(function) -> bytes:
    """The serialised ONNX model of a tf.function with an input signature (`converted_model`), in fewer
    operators (`convert.runtime.onnx_edits`)."""
    from convert.runtime.onnx_edits import simplified

    proto = converted_model(function)
    simplified(proto)  # fewer operators, each a fixed cost at batch 1 (checked against Keras afterwards)
    return proto.SerializeToString()


def converted_model(function):
    """The onnx.ModelProto tf2onnx writes of a tf.function with an input signature: its variables frozen into
    constants, its inputs named as the signature, its outputs as the function's dict keys; an OnnxError when
    an op has no ONNX form or the model is too large for one file."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    tf2onnx = _converter()
    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False, aggressive_inlining=True)
    graph = frozen.graph.as_graph_def(add_shapes=True)
    _compile_anywhere(graph)
    inputs, outputs = [t.name for t in frozen.inputs], [t.name for t in frozen.outputs]
    names = {**dict(zip(inputs, (spec.name for spec in function.input_signature))),
             **{tensor.name: key for key, tensor in concrete.structured_outputs.items()}}
    with _bounded_optimiser(tf2onnx), _quiet_loggers("tensorflow", "tf2onnx"):
        proto, _ = tf2onnx.convert.from_graph_def(graph, input_names=inputs, output_names=outputs, opset=OPSET,
                                                  tensors_to_rename=names, custom_op_handlers={"Erfc": (_erfc, []),
                                                                                          "FloorMod": (_floormod, [])})
    import onnx

    unknown = sorted({node.op_type for node in proto.graph.node if node.domain in ("", "ai.onnx")
                      and not onnx.defs.has(node.op_type)})
    if unknown:  # tf2onnx leaves what it cannot convert in place, and the file would not load
        raise OnnxError(f"tf2onnx cannot convert TensorFlow's {', '.join(unknown)} to ONNX (opset {OPSET})")
    if proto.ByteSize() > LIMIT:
        raise OnnxError(f"the model is {proto.ByteSize() / 2**30:.1f} GiB: over what one ONNX file holds (2 GiB)")
    return proto


def _compile_anywhere(graph) -> None:
    """Drop XLA's must-compile marks (and the no-inlining that comes with them) from the graph's function
    calls and functions. Keras computes a grouped convolution on the CPU in a function that XLA must compile
    (TensorFlow's own kernel lacks groups); marked so, the call is never inlined and tf2onnx cannot convert
    it, while inlined it is a Conv2D with groups, which ONNX's Conv has."""
    for node in list(graph.node) + [node for function in graph.library.function for node in function.node_def]:
        node.attr.pop("_XlaMustCompile", None)
    for function in graph.library.function:
        for mark in ("_XlaMustCompile", "_noinline"):
            function.attr.pop(mark, None)


def _erfc(ctx, node, name, args) -> None:
    """erfc(x) = 1 - erf(x): TensorFlow's exact GELU uses Erfc, which tf2onnx does not convert and ONNX lacks."""
    from onnx import numpy_helper

    erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
    dtype = numpy_helper.helper.tensor_dtype_to_np_dtype(ctx.get_dtype(node.input[0]))
    one = ctx.make_const(node.name + "/one", np.ones((), dtype))
    node.type = "Sub"
    ctx.replace_inputs(node, [one.output[0], erf.output[0]])


def _floormod(ctx, node, name, args) -> None:
    """An integer floor-mod as one ONNX Mod (fmod=0 takes the divisor's sign, as TensorFlow's FloorMod), where
    tf2onnx writes three nodes: the step's ring positions (t - delay) mod length, one per ring read. A float
    one as x - floor(x / y) * y."""
    import onnx

    if ctx.get_dtype(node.input[0]) in (onnx.TensorProto.INT32, onnx.TensorProto.INT64):
        node.type = "Mod"
        node.set_attr("fmod", 0)
        return
    x, y = node.input[0], node.input[1]
    div = ctx.make_node("Div", [x, y], op_name_scope=node.name)
    floor = ctx.make_node("Floor", [div.output[0]], op_name_scope=node.name)
    mul = ctx.make_node("Mul", [floor.output[0], y], op_name_scope=node.name)
    node.type = "Sub"
    ctx.replace_inputs(node, [x, mul.output[0]])


@contextlib.contextmanager
def _quiet_loggers(*names):
    """Only errors from these Python loggers meanwhile: tf2onnx calls TensorFlow 1 APIs whose deprecation
    warnings, and its own progress lines, are not for causalc's users."""
    import logging

    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


LEFT_OUT = ("reshape_optimizer",)  # tf2onnx 1.17's optimisers that give wrong graphs (see _bounded_optimiser)


@contextlib.contextmanager
def _bounded_optimiser(tf2onnx):
    """tf2onnx's optimisers, bounded and without those that give wrong graphs. tf2onnx repeats them until
    none changes the graph; on some graphs (a concatenation of a tensor and a convolution of it, as in
    specs/densenet.yaml) its reshape and duplicate-merging passes undo each other forever (tf2onnx 1.17), so
    at most ROUNDS rounds are run (each leaves a valid graph). Its reshape pass also reshapes a one-channel
    output to (batch, 1, T) instead of (batch, T, 1) behind an elementwise op (a 1x1 Conv1D of one filter
    with the `square` activation; found by the generated-spec test): it is left out. Every result is checked
    with ONNX Runtime all the same."""
    module = tf2onnx.optimizer
    original = module._get_optimizers

    def bounded():
        return {name: _bounded(factory) for name, factory in original().items() if name not in LEFT_OUT}

    module._get_optimizers = bounded
    try:
        yield
    finally:
        module._get_optimizers = original


def _bounded(factory):
    def make():
        optimiser = factory()
        run = optimiser.optimize

        def optimize(graph, iteration):
            graph = run(graph, iteration)
            if iteration + 1 >= ROUNDS:
                optimiser.graph_been_opt = False
            return graph

        optimiser.optimize = optimize
        return optimiser

    return make


def session(content: bytes):
    """An ONNX Runtime session of a serialised model, or None when ONNX Runtime is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])


def check_practice(content: bytes, model, nodes, arrays) -> float | None:
    """Relative error of ONNX Runtime's practice output against Keras on `arrays` (None without ONNX Runtime)."""
    runner = session(content)
    if runner is None:
        return None
    got = runner.run(["y"], {node.name: array for node, array in zip(nodes, arrays)})[0]
    return relative_error(got, model(arrays if len(arrays) > 1 else arrays[0], training=False))


def check_step(content: bytes, stream, batch_size: int, state: dict, values) -> float | None:
    """Relative error of ONNX Runtime's step against the stream over steps of `values` (one list of each
    input's value per step), both from `state` (the `initial_state` of `batch_size`: the stream's after a
    reset), the rings updated by the manifest's rule; None without ONNX Runtime."""
    from convert.runtime.export import input_name, ring_rule

    runner = session(content)
    if runner is None:
        return None
    stream.reset(batch_size)
    several = len(stream.nodes) > 1
    state = {name: np.array(value) for name, value in state.items()}
    rings = ring_rule(stream, batch_size)
    got, want, names = [], [], [output.name for output in runner.get_outputs()]
    for xs in values:
        want.append(stream.step(xs if several else xs[0]))
        feed = {input_name(node, several): x for node, x in zip(stream.nodes, xs)}
        out = dict(zip(names, runner.run(names, {**feed, **state})))
        got.append(out["y"])
        t = int(state["t"])
        for name, column, length in rings:
            state[name][t % length] = out[column]
        state["t"] = np.array(t + 1, np.int32)
    return relative_error(np.stack(got), np.stack(want))


def random_steps(nodes, steps: int, batch: int, seed: int = 0) -> list[list[np.ndarray]]:
    """Each input's value at each of `steps` steps, as the step takes them (a global input's the same)."""
    rng = np.random.default_rng(seed)
    fixed = {node.name: rng.normal(size=(batch, node.channels)).astype(np.float32) for node in nodes
             if node.is_global and not node.categories}
    fixed.update({node.name: rng.integers(0, node.categories, size=(batch,)).astype(np.int32) for node in nodes
                  if node.is_global and node.categories})
    return [[fixed[node.name] if node.name in fixed
             else rng.integers(0, node.categories, size=(batch,)).astype(np.int32) if node.categories
             else rng.normal(size=(batch, node.channels)).astype(np.float32) for node in nodes] for _ in range(steps)]


# ---- the exports, checked and written (what `causalc export` and `export-step --format onnx` run) ----

CHECK_STEPS = 256  # steps of the check: ONNX Runtime against the stream, or the practice output at every step
TOLERANCE = 1e-5  # relative to the output's scale: float32 rounding of a different order of operations


def verdict(error: float | None, what: str) -> str:
    """The check's verdict in words, or OnnxError (nothing written) when ONNX Runtime differs from Keras."""
    if error is None:
        return "not checked: onnxruntime is not installed"
    if error > TOLERANCE:
        raise OnnxError(f"ONNX Runtime's {what} differs from Keras's by {error:.2e} (relative, over "
                        f"{CHECK_STEPS} steps); nothing written")
    return f"ONNX Runtime equals Keras to {error:.1e} (relative) over {CHECK_STEPS} steps"


def _converted(function, model: bool = False):
    """`convert(function)`, or with `model` `converted_model(function)`; their OnnxError says nothing is written."""
    try:
        return converted_model(function) if model else convert(function)
    except OnnxError as error:
        raise error.with_context(suffix="; nothing written")


def export_practice(practice, analysis, out: str) -> str:
    """OUT.onnx of the practice model, checked at every step of a W+255-step input; the check's verdict."""
    from convert.backends.write import atomic_files
    from convert.runtime.conditioning import random_arrays

    nodes = analysis.spec.inputs
    content = _converted(practice_function(practice, nodes))
    arrays = random_arrays(nodes, analysis.window + CHECK_STEPS - 1)
    said = verdict(check_practice(content, practice, nodes, arrays), "practice output")
    with atomic_files(os.path.dirname(out)) as new:
        with open(new(out), "wb") as handle:
            handle.write(content)
    return said


def export_step_onnx(stream, out_dir: str, batch_size: int, calibration: list | None = None):
    """OUT_DIR/step.onnx, its initial_state.npz (none when exact warm-up's global inputs decide it) and
    step.json, checked over CHECK_STEPS steps against the stream from that state; with `calibration` (a
    recording, each input as the practice model takes it, the step's batch) also step-int8.onnx
    (`convert.runtime.quantize`): (step path, verdict, state path, int8 path and report or None)."""
    from convert.backends.write import atomic_files
    from convert.runtime.export import initial_state, manifest, write_initial_state, write_manifest

    stream.check_batch(batch_size, "the exported step", steps=1)
    from convert.runtime.onnx_edits import simplified

    proto = _converted(step_function(stream, batch_size), model=True)
    # an int8 step is quantised from the graph as tf2onnx wrote it: the edits' one Gemm of every skip's weights
    # would give them all one int8 scale, and each split Gemm would add its quantise-dequantise pairs (the int8
    # step's agreement was measured on this form)
    converted = proto.SerializeToString() if calibration is not None else None
    simplified(proto)
    content = proto.SerializeToString()
    state = initial_state(stream, batch_size)
    if state is None:
        said = "not checked: exact warm-up with global inputs starts from a state they decide"
    else:
        values = random_steps(stream.nodes, CHECK_STEPS, batch_size)
        said = verdict(check_step(content, stream, batch_size, state, values), "step")
    described = manifest(stream, batch_size, {"onnx": "step.onnx"}, state)
    int8 = None
    if calibration is not None:
        from convert.runtime import quantize

        quantised, report, entry = quantize.quantize_step(described, state, content, "onnx", calibration,
                                                          lambda samples, wide: quantize.onnx_int8(converted, samples, wide))
        described["files"]["onnx-int8"] = "step-int8.onnx"
        described["int8"] = {"onnx-int8": entry}
        int8 = (os.path.join(out_dir, "step-int8.onnx"), report)
    out = os.path.join(out_dir, "step.onnx")
    with atomic_files(out_dir) as new:  # the step, its initial state and its manifest, or none of them
        with open(new(out), "wb") as handle:
            handle.write(content)
        if int8 is not None:
            with open(new(int8[0]), "wb") as handle:
                handle.write(quantised)
        written = write_initial_state(state, out_dir, new) if state is not None else None
        write_manifest(described, stream.analysis.spec.text, out_dir, new)
    return out, said, written, int8
