"""Export of a StreamingModel's step with its state as explicit inputs and outputs: a SavedModel, and a
.tflite file where the ops allow, that run without causalc."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import tensorflow as tf

from convert.backends.write import atomic_files
from convert.core.errors import BadValue
from convert.kinds.ops import OPS


def tensor_name(ring: str) -> str:
    """The state's name for a ring: letters and digits kept, `_` doubled, any other character as `_xx_` (its
    code in hex), so that different layer names (`a.b`, `a-b`, `a_b`) never share a state."""
    return "ring_" + "".join(c if c.isascii() and c.isalnum() else "__" if c == "_" else f"_{ord(c):x}_"
                             for c in ring)


def input_name(node, several: bool) -> str:
    """The step's argument for an input: `x` for a model of one input, else `x_` and its name as `tensor_name`."""
    return "x" if not several else "x_" + tensor_name(node.name).removeprefix("ring_")


def column_name(ring: str) -> str:
    """The step's output for a ring: its input's value at the step, which the host writes at row t % length."""
    return tensor_name(ring) + "_column"


def ring_rule(stream, batch_size: int) -> list[tuple[str, str, int]]:
    """(state name, column name, length) of every ring of the exported step, in ring_names order: the host
    writes the column at row t % length of the state."""
    shapes = stream.ring_shapes(batch_size)
    return [(tensor_name(n), column_name(n), shapes[n][0]) for n in stream.ring_names]


def step_function(stream, batch_size: int = 1):
    """A concrete function `step(x..., t, *rings) -> {y, ring_*_column}` with explicit state: one x per
    input, in spec order, each its value at the step ((batch, C), or (batch,) integers; a hop input's
    frame for the step, a global input's vector). The rings are read, never copied: the step returns each
    ring's column (its input's value at step t), and the caller writes it at row t % length and adds 1 to
    t (`convert.deploy.manifest` describes the rule), so a step costs the same whatever the rings' length."""
    stream.check_batch(batch_size, "the exported step", steps=1)
    shapes = stream.ring_shapes(batch_size)
    several = len(stream.nodes) > 1
    signature = [tf.TensorSpec((batch_size,) + (() if node.categories else (node.channels,)),
                               tf.int32 if node.categories else tf.float32, name=input_name(node, several))
                 for node in stream.nodes]
    signature += [tf.TensorSpec((), tf.int32, name="t")]
    signature += [tf.TensorSpec(shapes[n], tf.float32, name=tensor_name(n)) for n in stream.ring_names]
    count = len(stream.nodes)

    def step(*args):
        xs, t, rings = args[:count], args[count], args[count + 1:]
        y, columns = stream._step(xs, t, rings, columns=True)
        return {"y": y, **{column_name(n): c for n, c in zip(stream.ring_names, columns)}}

    return tf.function(step, input_signature=signature, autograph=False)


def manifest(stream, batch_size: int, files: dict, state: dict | None) -> dict:
    """step.json's content for the step of `batch_size` written as `files` ({runtime: file name}); `state`:
    the initial state written beside it (None: exact warm-up's global inputs decide it, none is written)."""
    from convert.deploy.manifest import FORMAT, STATE, SPEC, VERSION
    from convert.runtime.feedback import output_kind

    analysis = stream.analysis
    spec = analysis.spec
    output = spec.layer(spec.output).config.get("activation")
    try:
        kind = output_kind(analysis)
    except BadValue:
        kind = None  # a classifier or a detector: the step is fed, never fed back
    several = len(stream.nodes) > 1
    inputs = [{"name": input_name(node, several), "input": node.name, "dtype": "int32" if node.categories else "float32",
               "shape": [batch_size] + ([] if node.categories else [node.channels]),
               "categories": node.categories or None, "hop": node.hop or None, "global": bool(node.is_global),
               "signal": node is spec.signal} for node in stream.nodes]
    initial = STATE if state is not None else None
    shapes = stream.ring_shapes(batch_size)
    rings = [{"name": name, "dtype": "float32", "shape": list(shapes[n]), "length": length, "initial": initial,
              "column": column, "update": f"{name}[t % {length}] = {column}"}
             for n, (name, column, length) in zip(stream.ring_names, ring_rule(stream, batch_size))]
    return {
        "format": FORMAT, "version": VERSION,
        "spec": {"name": spec.name, "file": SPEC, "window": analysis.window},
        "warmup": stream.warmup, "batch_size": batch_size, "files": dict(files),
        "inputs": inputs + [{"name": "t", "dtype": "int32", "shape": []}]
                  + [{"name": ring["name"], "dtype": "float32", "shape": ring["shape"]} for ring in rings],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [batch_size, stream.units], "activation": output or "linear"}]
                   + [{"name": ring["column"], "dtype": "float32", "shape": ring["shape"][1:]} for ring in rings],
        "state": [{"name": "t", "dtype": "int32", "shape": [], "initial": initial, "update": "t + 1"}] + rings,
        "feedback": None if kind is None else {"kind": kind, "levels": stream.units if kind != "regression" else None,
                                               "log_probabilities": output != "softmax"},
        "rule": "each step: outputs = step(inputs); for every ring, ring[t % length] = its column; then t += 1",
    }


def write_manifest(content: dict, spec_text: str, folder: str, new) -> str:
    """FOLDER/step.json and FOLDER/spec.yaml (the spec, for run-step's checks of what it is fed)."""
    import json

    from convert.deploy.manifest import MANIFEST, SPEC

    path = os.path.join(folder, MANIFEST)
    with open(new(path), "w", encoding="utf-8") as handle:
        json.dump(content, handle, indent=1)
        handle.write("\n")
    with open(new(os.path.join(folder, SPEC)), "w", encoding="utf-8") as handle:
        handle.write(spec_text)
    return path


def initial_state(stream, batch_size: int) -> dict | None:
    """The state a deployment starts from, as the exported step takes it ({"t": int32, "ring_*": float32}):
    zeros in causal warm-up, the state W-1 zero steps leave in exact warm-up. None when the stream cannot
    know it (exact warm-up with global inputs: the warm-up sees them)."""
    if stream.warmup == "exact" and any(node.is_global for node in stream.nodes):
        return None
    saved = stream._state, stream.batch_size, stream.origin  # the stream's own state is left as it was
    try:
        stream.reset(batch_size)
        t, rings = stream._state
        return {"t": np.array(int(t), np.int32), **{tensor_name(n): r.numpy() for n, r in zip(stream.ring_names, rings)}}
    finally:
        stream._state, stream.batch_size, stream.origin = saved


def write_initial_state(state: dict, folder: str, new) -> str:
    """FOLDER/initial_state.npz holding `state` (an `initial_state`), staged by `new` (an atomic_files writer)."""
    path = os.path.join(folder, "initial_state.npz")
    with open(new(path), "wb") as handle:
        np.savez(handle, **state)
    return path


def export(stream, folder: str, batch_size: int = 1, tflite: bool = True, calibration: list | None = None) -> dict[str, str]:
    """Write the step function with explicit state as a SavedModel (and a .tflite file where the ops
    allow), with the state to start from (initial_state.npz) and the manifest that says how to drive it
    (step.json); a deployment runs it with TensorFlow (or LiteRT) alone. `calibration`: a recording (each
    input as the practice model takes it, the step's batch) to quantise step.tflite with, into
    step-int8.tflite (`convert.runtime.quantize`)."""
    if calibration is not None and not tflite:
        raise BadValue("an int8 step is a quantised step.tflite: leave out --no-tflite")
    function = step_function(stream, batch_size)
    module = tf.Module()
    module.step = function
    # the Keras layers the step calls: their weights are saved with it
    module.layers = [stream.keras_layer(layer.name) for layer in stream.graph.layers if OPS[layer.op].calls_layer]
    saved = os.path.join(folder, "saved_model")
    written = {"saved_model": saved}
    with atomic_files(folder) as new:  # all staged, then committed together: a failure leaves the old ones
        tf.saved_model.save(module, new(saved, folder=True),
                            signatures={"serving_default": function.get_concrete_function()})
        files = {"saved_model": "saved_model"}
        state = initial_state(stream, batch_size)
        quantised = None
        if tflite:
            # the weights of the layers the step calls frozen into the file: converted from the SavedModel
            # they would be resource variables, which the TFLite interpreter leaves uninitialised
            with _plain_silu():
                frozen = _frozen(step_function(stream, batch_size))
            content = tf.lite.TFLiteConverter.from_concrete_functions([frozen], module).convert()
            path = os.path.join(folder, "step.tflite")
            with open(new(path), "wb") as handle:
                handle.write(content)
            written["tflite"] = path
            files["litert"] = "step.tflite"
            if calibration is not None:
                from convert.runtime import quantize

                names = [spec.name for spec in function.input_signature]
                with stream.apart(), _plain_silu():  # its own matmul per convolution, pairwise sums: a scale per tensor
                    apart = _frozen(step_function(stream, batch_size))
                apart_content = tf.lite.TFLiteConverter.from_concrete_functions([apart], module).convert()
                quantised, said, entry = quantize.quantize_step(
                    manifest(stream, batch_size, files, state), state, content, "litert", calibration,
                    lambda samples, wide: quantize.litert_int8(apart, module, samples, names, stream.graph, apart_content,
                                                               wide))
                path = os.path.join(folder, "step-int8.tflite")
                with open(new(path), "wb") as handle:
                    handle.write(quantised)
                written[f"full-integer tflite: {said}"] = path
                files["litert-int8"] = "step-int8.tflite"
        if state is not None:
            written["initial state"] = write_initial_state(state, folder, new)
        described = manifest(stream, batch_size, files, state)
        if quantised is not None:
            described["int8"] = {"litert-int8": entry}
        written["manifest"] = write_manifest(described, stream.analysis.spec.text, folder, new)
    return written


@contextlib.contextmanager
def _plain_silu():
    """Swish (silu) traced as x * sigmoid(x), its forward pass: TensorFlow's carries a custom gradient, whose
    IdentityN the TFLite converter cannot map to outputs, so the file would have no signature."""
    from keras.src.backend.tensorflow import nn

    silu = nn.silu
    nn.silu = lambda x: x * tf.sigmoid(x)
    try:
        yield
    finally:
        nn.silu = silu


def _frozen(function):
    """The step with every variable it reads turned into a constant, its outputs named as before."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    names = sorted(concrete.structured_outputs)  # a dict's outputs come flattened in key order

    @tf.function(input_signature=function.input_signature, autograph=False)
    def step(*args):
        return dict(zip(names, frozen(*args)))

    return step.get_concrete_function()
