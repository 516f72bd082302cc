"""The deployable step: export-step's step.json and the runner (`convert.deploy.runner`, `causalc run-step`)
that drives the exported step with ONNX Runtime or LiteRT alone. Checked against the stream (itself checked
against the practice model and the NumPy evaluator): every output row, and generation's samples for the same
seed; the step copies no ring (its cost does not grow with the receptive field); run-step never imports
TensorFlow; bad input is a clear error that writes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import (BLOCK_TENSORFLOW, MULAW, ROOT, SMALL_VOCODER, advance, exported_step, generated_model, randomize,
                      relative_error, step_rule, stream_of)
from evaluator import listed, random_inputs
from strategies import spec_dicts_of_every_family

tf = pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

WAVENET = os.path.join(ROOT, "specs", "wavenet.yaml")
LAST_LINE = re.compile(r"^(\d+) steps in \d+\.\d\d s \([\d,]+ steps/s\)$")


def _run_step(*args):
    from convert.cli import main

    return CliRunner().invoke(main, ["run-step", *map(str, args)])


def test_the_manifest_describes_what_the_step_takes_returns_and_keeps():
    folder = exported_step(WAVENET)
    manifest = json.load(open(os.path.join(folder, "step.json")))
    session = ort.InferenceSession(os.path.join(folder, "step.onnx"), providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    assert [i["name"] for i in manifest["inputs"]] and {i["name"] for i in manifest["inputs"]} == set(inputs)
    assert {o["name"] for o in manifest["outputs"]} == set(outputs)
    for described in manifest["inputs"] + manifest["outputs"]:
        actual = (inputs | outputs)[described["name"]]
        assert list(actual.shape) == described["shape"]
        assert actual.type == {"float32": "tensor(float)", "int32": "tensor(int32)"}[described["dtype"]]
    state = np.load(os.path.join(folder, manifest["state"][0]["initial"]))
    assert sorted(state.files) == sorted(s["name"] for s in manifest["state"])
    stream = stream_of(WAVENET)
    rule = {name: (column, length) for name, column, length in step_rule(stream, 2)}
    for described in manifest["state"]:
        assert list(state[described["name"]].shape) == described["shape"]
        if described["name"] != "t":
            assert (described["column"], described["length"]) == rule[described["name"]]
            assert described["update"] == f"{described['name']}[t % {described['length']}] = {described['column']}"
    assert manifest["feedback"] == {"kind": "mu-law", "levels": 256, "log_probabilities": False}
    assert open(os.path.join(folder, "spec.yaml")).read() == open(WAVENET).read()


def _structure(spec_text: str, tmp_path, name: str):
    """(op types of the exported ONNX step, the op types reading each ring, the rings' lengths)."""
    import onnx

    from convert import api
    from convert.runtime import onnx_export
    from convert.runtime.export import step_function
    from convert.runtime.stream import StreamingModel

    path = tmp_path / f"{name}.yaml"
    path.write_text(spec_text)
    model = api.practice_model(str(path))
    randomize(model, 1)
    stream = StreamingModel(model, str(path))
    graph = onnx.load_from_string(onnx_export.convert(step_function(stream, 1))).graph
    rings = {name for name, _, _ in step_rule(stream, 1)}
    readers = sorted(node.op_type for node in graph.node for value in node.input if value in rings)
    return sorted(node.op_type for node in graph.node), readers, sorted(length for _, _, length in step_rule(stream, 1))


def test_a_step_costs_the_same_whatever_the_receptive_field(tmp_path):
    """The same layers with dilations 64 times larger: the same ONNX graph, op for op, whose rings are only
    read (Gather) and never copied or scattered, though the rings are 64 times longer."""
    def stack(dilations):
        return "input: {channels: 2}\nlayers:\n" + "".join(
            f"  - {{type: Conv1D, name: c{i}, filters: 8, kernel_size: 3, dilation_rate: {d}, activation: relu}}\n"
            for i, d in enumerate(dilations)) + "  - {type: Conv1D, name: out, filters: 4, kernel_size: 1}\n"

    small = _structure(stack((1, 2, 4)), tmp_path, "small")
    large = _structure(stack((64, 128, 256)), tmp_path, "large")
    assert small[0] == large[0] and small[1] == large[1] == ["Gather"] * 3
    assert "ScatterND" not in small[0] and [64 * (n - 1) + 1 for n in small[2]] == large[2]


def test_run_step_generates_the_samples_generate_draws(tmp_path):
    """Same seed, same state, same samples: run-step with ONNX Runtime and with LiteRT, and the stream's
    generation (what `causalc generate` runs), for two streams seeded SEED and SEED + 1."""
    from convert.runtime.generation import generate_from

    stream = stream_of(WAVENET)
    want = generate_from(stream, 400, 2, seed=11)
    for folder, runtime in ((exported_step(WAVENET), "onnx"), (exported_step(WAVENET, fmt="saved_model"), "litert")):
        out = tmp_path / f"{runtime}.npy"
        result = _run_step(folder, "--steps", 400, "--seed", 11, "--runtime", runtime, "-o", out)
        assert result.exit_code == 0, result.output
        assert LAST_LINE.match(result.output.strip().splitlines()[-1]).group(1) == "400"
        np.testing.assert_array_equal(np.load(out), want)
    result = _run_step(exported_step(WAVENET), "--steps", 400, "--seed", 12, "-o", tmp_path / "other.npy")
    assert result.exit_code == 0 and not np.array_equal(np.load(tmp_path / "other.npy"), want)
    cooler = generate_from(stream, 400, 2, seed=11, temperature=0.6)
    result = _run_step(exported_step(WAVENET), "--steps", 400, "--seed", 11, "--temperature", 0.6, "-o", tmp_path / "t.npy")
    assert result.exit_code == 0 and not np.array_equal(cooler, want)
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), cooler)


def test_run_step_feeds_a_recording_one_output_row_per_step(tmp_path):
    x = np.random.default_rng(3).normal(size=(1300, 1)).astype(np.float32) * 0.5
    np.save(tmp_path / "x.npy", x)
    stream = stream_of(WAVENET)
    stream.reset(2)
    want = stream.run(np.repeat(x[None], 2, axis=0))
    result = _run_step(exported_step(WAVENET), "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.output
    got = np.load(tmp_path / "y.npy")
    assert got.shape == (2, 1300, 256) and relative_error(got, want) < 1e-5


SWISH = """\
name: swish
input: {channels: 1, window: 8}
layers:
  - {type: Conv1D, name: c1, filters: 8, kernel_size: 2, strides: 2, activation: swish}
  - {type: Activation, name: a1, activation: silu}
  - {type: Conv1D, name: c2, filters: 8, kernel_size: 2, strides: 2, activation: gelu}
  - {type: Conv1D, name: out, filters: 1, kernel_size: 2}
"""


def test_a_swish_step_runs_in_litert(tmp_path):
    """Swish's custom gradient once left the .tflite without a signature (run-step failed): the step is
    traced with swish's forward pass, and LiteRT's step equals the stream."""
    from convert.deploy.runner import StepRunner

    spec = tmp_path / "swish.yaml"
    spec.write_text(SWISH)
    folder = exported_step(str(spec), batch=1, fmt="saved_model")
    x = np.random.default_rng(4).normal(size=(1, 200, 1)).astype(np.float32)
    stream = stream_of(str(spec))
    stream.reset(1)
    assert relative_error(StepRunner(folder, "litert").run([x]), stream.run(x)) < 1e-5


def test_run_step_never_imports_tensorflow(tmp_path):
    """In a process where TensorFlow and Keras cannot be imported, run-step generates with both runtimes, and
    says nothing of the runtime's own on stderr."""
    for folder, runtime in ((exported_step(WAVENET), "onnx"), (exported_step(WAVENET, fmt="saved_model"), "litert")):
        code = BLOCK_TENSORFLOW + (f"import sys\nsys.argv = ['causalc', 'run-step', {folder!r}, '--steps', '50', "
                                   f"'--runtime', {runtime!r}, '-o', {str(tmp_path / 'g.npy')!r}]\n"
                                   "from convert.cli import run\nrun()\n")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert result.returncode == 0, result.stderr + result.stdout
        assert LAST_LINE.match(result.stdout.strip().splitlines()[-1])
        assert "INFO" not in result.stderr, result.stderr  # LiteRT's delegate line on fd 2 is not for users
        assert np.load(tmp_path / "g.npy").shape == (2, 50, 1)


def test_conditioned_generation_and_warm_up(tmp_path):
    """A categorical signal, a hop input and a global input (levels fed back, frames read at (t+1) // hop);
    the prime fed first; and an exact warm-up's initial state: the runner equals the stream."""
    from convert import api
    from convert.deploy.runner import StepRunner
    from convert.runtime.generation import generate_from
    from convert.runtime.onnx_export import export_step_onnx
    from convert.runtime.stream import StreamingModel

    path = tmp_path / "small-vocoder.yaml"
    path.write_text(SMALL_VOCODER)
    model = api.practice_model(str(path))
    randomize(model, 3)
    stream = StreamingModel(model, str(path))
    export_step_onnx(stream, str(tmp_path / "step"), 2)
    rng = np.random.default_rng(0)
    conditions = {"mel": rng.normal(size=(2, 3, 80)).astype(np.float32),
                  "speaker": np.array([1, 3], np.int32)}
    prime = rng.integers(0, 256, size=(2, 40)).astype(np.int32)
    want = generate_from(stream, 300, 2, prime, conditions, seed=4)
    runner = StepRunner(str(tmp_path / "step"))
    got = runner.generate(300, seed=4, prime=prime, conditions=[None, conditions["mel"], conditions["speaker"]])
    np.testing.assert_array_equal(got, want)

    spec = os.path.join(ROOT, "specs", "strided-stack.yaml")
    exact = api.practice_model(spec, "exact")
    randomize(exact, 5)
    stream = StreamingModel(exact, spec, warmup="exact")
    export_step_onnx(stream, str(tmp_path / "exact"), 1)
    runner = StepRunner(str(tmp_path / "exact"))
    assert runner.t == api.load(spec).window - 1
    x = rng.normal(size=(1, 60, 1)).astype(np.float32)
    assert relative_error(runner.run([x]), np.asarray(exact(x), np.float64)) < 1e-5


GENERATED = spec_dicts_of_every_family(max_layers=4)


@settings(max_examples=int(os.environ.get("CAUSALC_DEPLOY_EXAMPLES", "3")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(spec=GENERATED, seed=st.integers(0, 2**16))
def test_generated_steps_run_exactly(spec, seed, tmp_path_factory):
    """Specs hypothesis draws (several inputs, hop and global inputs, exact 'same' padding): the runner over
    the exported ONNX step equals the stream at every step, from the initial state and again after a reset."""
    from convert.deploy.runner import StepRunner
    from convert.runtime.onnx_export import export_step_onnx
    from convert.runtime.stream import StreamingModel

    folder = tmp_path_factory.mktemp("generated")
    analysis, model = generated_model(spec, seed, folder)
    stream = StreamingModel(model, analysis)
    export_step_onnx(stream, str(folder / "step"), 2)
    runner = StepRunner(str(folder / "step"))
    x = listed(random_inputs(spec, analysis.window + 20, 2, seed))
    stream.reset(2)
    want = stream.run(x if len(x) > 1 else x[0])
    assert relative_error(runner.run(x), want) < 1e-5
    runner.reset()
    assert relative_error(runner.run(x), want) < 1e-5


def test_run_step_errors_say_what_to_do_and_write_nothing(tmp_path):
    folder = exported_step(WAVENET)
    out = tmp_path / "out.npy"
    cases = [
        ((tmp_path / "missing", "--steps", 5), 1, "no such folder"),
        ((tmp_path, "--steps", 5), 1, "holds no step.json"),
        ((folder, "--steps", 5, "--input", tmp_path / "x.npy"), 2, "either --steps N"),
        ((folder,), 2, "either --steps N"),
        ((folder, "--steps", 5, "--batch-size", 3), 2, "export-step --batch-size 3"),
        ((folder, "--steps", 5, "--int8"), 1, "export-step --quantize int8"),
        ((folder, "--steps", 5, "--runtime", "litert"), 1, "holds no litert step"),
        ((folder, "--steps", 5, "--condition", "mel=m.npy"), 2, "the spec has only the signal"),
    ]
    for args, code, message in cases:
        result = _run_step(*args, "-o", out)
        assert result.exit_code == code and message in result.output, (args, result.output)
        assert "Traceback" not in result.output and not out.exists()
    result = _run_step(folder, "--steps", 5, "-o", tmp_path / "out.txt")
    assert result.exit_code == 2 and "must end in .npy or .wav" in result.output


def test_a_step_that_cannot_be_fed_back_is_fed(tmp_path):
    """A classifier's step: generation is refused with the fix (feed it), a recording is fed."""
    from convert.cli import main

    path = tmp_path / "classifier.yaml"
    path.write_text("input: {channels: 2, window: 9}\nlayers:\n  - {type: Conv1D, name: c, filters: 4, kernel_size: 3, "
                    "strides: 2, activation: relu}\n  - {type: Flatten, name: f}\n  - {type: Dense, name: out, units: 3, "
                    "activation: softmax}\n")
    assert CliRunner().invoke(main, ["compile", str(path), "-o", str(tmp_path)]).exit_code == 0
    result = CliRunner().invoke(main, ["export-step", str(path), str(tmp_path / "classifier.keras"), "-o",
                                       str(tmp_path / "step"), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    result = _run_step(tmp_path / "step", "--steps", 5, "-o", tmp_path / "g.npy")
    assert result.exit_code == 1 and "feed it with --input" in result.output and not (tmp_path / "g.npy").exists()
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32))
    result = _run_step(tmp_path / "step", "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.output
    from convert import api

    practice = api.load_model(tmp_path / "classifier.keras")
    want = np.asarray(practice(np.load(tmp_path / "x.npy")[None]))[0]
    assert relative_error(np.load(tmp_path / "y.npy"), want) < 1e-5


def test_run_step_writes_wav_and_level_outputs(tmp_path):
    """A mu-law spec generated to a .wav (16-bit, the samples clipped), the same samples as the .npy."""
    from convert import api
    from convert.runtime.audio import read_samples
    from convert.runtime.onnx_export import export_step_onnx
    from convert.runtime.stream import StreamingModel

    path = tmp_path / "mulaw.yaml"
    path.write_text(MULAW)
    model = api.practice_model(str(path))
    randomize(model, 2)
    export_step_onnx(StreamingModel(model, str(path)), str(tmp_path / "step"), 1)
    assert _run_step(tmp_path / "step", "--steps", 200, "-o", tmp_path / "g.npy").exit_code == 0
    result = _run_step(tmp_path / "step", "--steps", 200, "-o", tmp_path / "g.wav")
    assert result.exit_code == 0, result.output
    samples = np.load(tmp_path / "g.npy")
    assert samples.shape == (200, 1)
    np.testing.assert_allclose(read_samples(str(tmp_path / "g.wav"))[:, 0], samples[:, 0], atol=2 / 32767)


@pytest.mark.parametrize("activation", ["softmax", "log_softmax", "linear"])
def test_the_export_check_takes_a_confident_model(tmp_path, activation):
    """Large logits (an output layer's weights times 40): float32 rounding grows with them, and the check,
    relative to the outputs' scale, still passes the step, which still equals the stream."""
    from convert import api
    from convert.deploy.runner import StepRunner
    from convert.runtime.onnx_export import export_step_onnx
    from convert.runtime.stream import StreamingModel

    path = tmp_path / "confident.yaml"
    path.write_text(MULAW.replace("activation: softmax", f"activation: {activation}"))
    model = api.practice_model(str(path))
    randomize(model, 4)
    out = model.get_layer("out")
    out.set_weights([w * 40 for w in out.get_weights()])
    stream = StreamingModel(model, str(path))
    export_step_onnx(stream, str(tmp_path / "step"), 1)  # raises OnnxError if the check refused it
    x = np.random.default_rng(1).normal(size=(1, 300, 1)).astype(np.float32)
    stream.reset(1)
    want = stream.run(x)
    if activation != "softmax":
        assert np.abs(want).max() > 100
    assert relative_error(StepRunner(str(tmp_path / "step")).run([x]), want) < 1e-5


# ---- int8 (export-step --quantize int8 --calibration FILE) ----

INT8_SPEC = """name: int8-check
input: {channels: 3, window: 22}
same_padding: exact
layers:
  - {type: Conv1D, name: front, filters: 96, kernel_size: 3, strides: 2, padding: same, activation: relu}
  - {type: BatchNormalization, name: norm}
  - {type: Conv1D, name: middle, filters: 96, kernel_size: 3, dilation_rate: 2, activation: tanh}
  - {type: Conv1D, name: skip, inputs: norm, filters: 96, kernel_size: 1}
  - {type: Add, name: sum, inputs: [middle, skip]}
  - {type: GlobalAveragePooling1D, name: pool}
  - {type: Dense, name: out, units: 5}
"""


def _int8_folder(tmp_path, fmt: str):
    """A random network of 'same' padding (a ring whose column is the input itself), a batch norm, a residual
    Add and a global pool, exported with --quantize int8 on a calibration recording; (folder, output)."""
    from convert import api
    from convert.cli import main

    spec = tmp_path / "int8.yaml"
    spec.write_text(INT8_SPEC)
    model = api.practice_model(str(spec))
    randomize(model, 5)
    model.save(tmp_path / "int8.keras")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "calibration.npy", rng.normal(size=(700, 3)).astype(np.float32))
    np.save(tmp_path / "test.npy", rng.normal(size=(500, 3)).astype(np.float32))
    out = tmp_path / fmt
    result = CliRunner().invoke(main, ["export-step", str(spec), str(tmp_path / "int8.keras"), "-o", str(out),
                                       "--format", fmt, "--quantize", "int8", "--calibration",
                                       str(tmp_path / "calibration.npy")])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.parametrize("fmt, runtime, file", [("saved_model", "litert", "step-int8.tflite"),
                                                ("onnx", "onnx", "step-int8.onnx")])
def test_an_int8_step_follows_the_float_step(tmp_path, fmt, runtime, file):
    """The int8 step is written beside the float one and named in step.json with its calibration report;
    run-step --int8 runs it from the manifest alone; its outputs follow the float step's on a recording it was
    not calibrated on (quantisation's error, not a mis-wired input: that would be of the order of the outputs),
    differ from them (it is quantised), and its file is under half the float file."""
    folder, said = _int8_folder(tmp_path, fmt)
    manifest = json.load(open(folder / "step.json"))
    key = runtime + "-int8"
    assert manifest["files"][key] == file and (folder / file).exists()
    report = manifest["int8"][key]
    assert report["calibration"]["steps"] == 700 and 0 <= report["calibration"]["argmax_agreement"] <= 1
    assert f"{100 * report['calibration']['argmax_agreement']:.1f}% of 700 calibration steps" in said
    float_size = (folder / manifest["files"][runtime]).stat().st_size if runtime == "litert" else \
        (folder / "step.onnx").stat().st_size
    assert report["bytes"] == (folder / file).stat().st_size < 0.5 * float_size
    ys = {}
    for flag in ((), ("--int8",)):
        out = tmp_path / f"y{len(flag)}.npy"
        result = _run_step(folder, "--input", tmp_path / "test.npy", "--runtime", runtime, *flag, "-o", out)
        assert result.exit_code == 0, result.output
        ys[bool(flag)] = np.load(out)
    if runtime == "litert":  # the rings come in float and only the taps read from them are quantised
        rings = {state["name"] for state in manifest["state"]}
        assert not [ins for op, ins, _ in _ops((folder / file).read_bytes()) if op == "QUANTIZE"
                    and any(name.split("serving_default_")[-1].split(":")[0] in rings for name in ins)]
    error = relative_error(ys[True], ys[False])
    # int8 of a random network: 2-10% over packages' versions (the network drawn differs with them); a
    # mis-wired input or ring is of the order of the outputs (1 and more)
    assert 1e-4 < error < 0.2, error


def test_int8_export_errors_say_what_to_do_and_write_nothing(tmp_path):
    from convert.cli import main

    spec = tmp_path / "int8.yaml"
    spec.write_text(INT8_SPEC)
    assert CliRunner().invoke(main, ["compile", str(spec), "-o", str(tmp_path)]).exit_code == 0
    np.save(tmp_path / "cal.npy", np.zeros((50, 3), np.float32))
    np.save(tmp_path / "wrong.npy", np.zeros((50, 4), np.float32))
    base = ["export-step", str(spec), str(tmp_path / "int8-check.keras"), "-o", str(tmp_path / "out")]
    cases = [
        (["--quantize", "int8"], 2, "--quantize int8 and --calibration FILE go together"),
        (["--calibration", str(tmp_path / "cal.npy")], 2, "go together"),
        (["--quantize", "int8", "--calibration", str(tmp_path / "cal.npy"), "--no-tflite"], 2, "leave out --no-tflite"),
        (["--quantize", "int8", "--calibration", str(tmp_path / "wrong.npy")], 1, "--calibration"),
        (["--quantize", "int8", "--calibration", str(tmp_path / "missing.npy")], 1, "missing.npy: no such file"),
    ]
    for args, code, message in cases:
        result = CliRunner().invoke(main, base + args)
        assert result.exit_code == code and message in result.output, (args, result.output)
        assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_a_layer_the_converter_cannot_quantise_is_named_and_nothing_is_written(tmp_path, monkeypatch):
    """No layer kind causalc compiles is refused by LiteRT's int8 converter (softplus, mish, log, exponential
    and the rest quantise), so its refusal is played here: the converter says what TensorFlow 2.21's says of
    an op without an int8 kernel, under the layer `middle`'s name; export-step names the layer, exits 1,
    shows no traceback and writes nothing."""
    import tensorflow as tf

    from convert.cli import main

    spec = tmp_path / "int8.yaml"
    spec.write_text(INT8_SPEC)
    assert CliRunner().invoke(main, ["compile", str(spec), "-o", str(tmp_path)]).exit_code == 0
    np.save(tmp_path / "cal.npy", np.zeros((50, 3), np.float32))
    said = ("<unknown>:0: error: loc(fused[\"Mish:\", \"StatefulPartitionedCall/step/middle/Mish@__inference_step\"]): "
            "'tfl.custom_op' op is neither a custom op nor a flex op\n<unknown>:0: note: see current operation")

    float_convert = tf.lite.TFLiteConverter.convert

    def convert(self):  # the float step's file converts as ever; the int8 one is refused
        if self.optimizations:
            raise RuntimeError(said)
        return float_convert(self)

    def debugger(*args, **kwargs):
        raise RuntimeError(said)

    monkeypatch.setattr(tf.lite.TFLiteConverter, "convert", convert)
    monkeypatch.setattr(tf.lite.experimental, "QuantizationDebugger", debugger)
    result = CliRunner().invoke(main, ["export-step", str(spec), str(tmp_path / "int8-check.keras"), "-o",
                                       str(tmp_path / "out"), "--format", "saved_model", "--quantize", "int8",
                                       "--calibration", str(tmp_path / "cal.npy")])
    assert result.exit_code == 1, result.output
    assert "layer middle (custom_op) cannot be quantised to int8 by LiteRT" in result.output, result.output
    assert "export the float step" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_an_unquantisable_layer_is_named():
    """The converter's complaint names TensorFlow ops under the layers' names: the layer is said (the longest
    name that matches, not a prefix of it), with the op and what to do."""
    from types import SimpleNamespace

    from convert.runtime.quantize import _unquantisable

    graph = SimpleNamespace(layers=[SimpleNamespace(name=n) for n in ("conv", "conv_gate", "out")])
    message = ("error: 'tfl.custom_op' op is neither a custom op nor a flex op\n"
               "loc(fused[\"StatefulPartitionedCall/step/conv_gate/Mish:0\"])")
    said = _unquantisable(message, graph, "LiteRT")
    assert said.startswith("layer conv_gate (custom_op) cannot be quantised to int8 by LiteRT") and "--quantize" in said


@pytest.mark.parametrize("fmt, runtime", [("saved_model", "litert"), ("onnx", "onnx")])
def test_an_int8_step_generates(tmp_path, fmt, runtime):
    """A mu-law network's int8 step generates through run-step --int8 (samples on the mu-law grid, not all
    alike) and its head stays float: y comes from a float softmax (not from a dequantised int8 one)."""
    from convert import api
    from convert.cli import main

    spec = tmp_path / "mulaw.yaml"
    spec.write_text(MULAW)
    model = api.practice_model(str(spec))
    randomize(model, 2)
    model.save(tmp_path / "mulaw.keras")
    t = np.arange(2000) / 400.0
    np.save(tmp_path / "cal.npy", (0.5 * np.sin(2 * np.pi * t))[:, None].astype(np.float32))
    out = tmp_path / "step"
    result = CliRunner().invoke(main, ["export-step", str(spec), str(tmp_path / "mulaw.keras"), "-o", str(out),
                                       "--format", fmt, "--quantize", "int8", "--calibration", str(tmp_path / "cal.npy")])
    assert result.exit_code == 0, result.output
    result = _run_step(out, "--steps", 300, "--seed", 3, "--runtime", runtime, "--int8", "-o", tmp_path / "g.npy")
    assert result.exit_code == 0, result.output
    samples = np.load(tmp_path / "g.npy")
    from convert.deploy.runner import StepRunner, decode_table

    assert samples.shape == (300, 1) and np.isin(samples, decode_table(255)).all() and len(np.unique(samples)) > 5
    assert _producer_of_y(out / ("step-int8.tflite" if runtime == "litert" else "step-int8.onnx")) == "softmax"
    y = StepRunner(str(out), runtime, int8=True).run([np.load(tmp_path / "cal.npy")[None, :200]])
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-3)


def _y_reads(path):
    """The dtype of what the op writing y reads (a LiteRT file)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    index = interpreter.get_signature_runner().get_output_details()["y"]["index"]
    op = next(op for op in interpreter._get_ops_details() if index in op["outputs"])
    return {d["index"]: d["dtype"] for d in interpreter.get_tensor_details()}[op["inputs"][0]]


def _producer_of_y(path) -> str:
    """The op type that writes the step's output y, in lower case (a delegate would hide it: none is used)."""
    if str(path).endswith(".onnx"):
        import onnx

        graph = onnx.load(str(path)).graph
        return next(node.op_type for node in graph.node if "y" in node.output).lower()
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    index = interpreter.get_signature_runner().get_output_details()["y"]["index"]
    return next(op["op_name"] for op in interpreter._get_ops_details() if index in op["outputs"]).lower()


@pytest.mark.parametrize("fmt, runtime", [("onnx", "onnx"), ("saved_model", "litert")])
def test_a_poor_int8_step_is_quantised_again_with_16_bit_activations(tmp_path, monkeypatch, fmt, runtime):
    """When int8 activations lose the argmax (forced here: every agreement counts as poor), the step is
    quantised again with int16 activations and kept when it is closer to the float step; step.json and the
    report say so, the file's activations are 16-bit (LiteRT: its output head float, y written by a float
    op), and run-step --int8 runs it closer to the float step than int8 did."""
    from convert.runtime import quantize

    key = runtime + "-int8"
    (tmp_path / "narrow").mkdir()
    (tmp_path / "wide").mkdir()
    narrow_folder, _ = _int8_folder(tmp_path / "narrow", fmt)
    narrow = json.load(open(narrow_folder / "step.json"))["int8"][key]
    assert narrow["activations"] == "int8" and narrow["weights"] == "int8"
    monkeypatch.setattr(quantize, "POOR_AGREEMENT", 1.01)
    folder, said = _int8_folder(tmp_path / "wide", fmt)
    wide = json.load(open(folder / "step.json"))["int8"][key]
    assert wide["activations"] == "int16" and "activations int16" in said
    assert wide["calibration"]["relative_error"] < narrow["calibration"]["relative_error"]
    if runtime == "onnx":
        import onnx

        graph = onnx.load(str(folder / "step-int8.onnx")).graph
        types = {t.name: t.data_type for t in graph.initializer}
        points = {types.get(node.input[2]) for node in graph.node if node.op_type == "QuantizeLinear" and len(node.input) > 2}
        assert onnx.TensorProto.INT16 in points, points
    else:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(folder / "step-int8.tflite"))
        kinds = {d["dtype"] for d in interpreter.get_tensor_details()}
        assert np.int16 in kinds and np.int8 in kinds  # int16 activations, int8 weights
        assert _y_reads(folder / "step-int8.tflite") == np.float32  # the output head in float
    x = np.load(tmp_path / "wide" / "test.npy")[None]
    from convert.deploy.runner import StepRunner

    want = StepRunner(str(folder), runtime).run([x])
    wide_error, narrow_error = (_rms_error(StepRunner(str(f), runtime, int8=True).run([x]), want)
                                for f in (folder, narrow_folder))
    assert wide_error < narrow_error  # on a recording neither was calibrated on, by the report's measure


def _rms_error(got, want) -> float:
    """The calibration report's relative error: RMS of the difference over RMS of the float output."""
    return float(np.sqrt(np.mean(np.square(got - want))) / np.sqrt(np.mean(np.square(want))))


def test_each_op_of_a_16_bit_litert_step_gets_its_own_bias():
    """Two products with equal biases (as WaveNet's skip convolutions have): LiteRT's converter keeps one
    bias tensor for both at the first one's scale, and the second is far off; `own_biases` gives each its
    own at the scale its input and weights set, and both follow the float function."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tensorflow.lite.tools import flatbuffer_utils as fb

    from convert.runtime.tflite_edits import own_biases

    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(8, 6)).astype(np.float32), 0.05 * rng.normal(size=(8, 6)).astype(np.float32)
    bias = tf.constant(rng.normal(size=6).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32), tf.TensorSpec([1, 8], tf.float32)])
    def two(a, b):
        return {"p": tf.matmul(a, w1) + bias, "q": tf.matmul(3.0 * b, w2) + bias}

    samples = [(rng.normal(size=(1, 8)).astype(np.float32), rng.normal(size=(1, 8)).astype(np.float32)) for _ in range(50)]
    module = tf.Module()
    module.two = two
    converter = tf.lite.TFLiteConverter.from_concrete_functions([two.get_concrete_function()], module)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ({"a": a, "b": b} for a, b in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.float32
    content = converter.convert()
    model = fb.read_model_from_bytearray(bytearray(content))
    fixed = own_biases(model)
    edited = bytes(fb.convert_object_to_bytearray(model))

    def errors(data: bytes) -> dict:
        runner = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        a, b = samples[0]
        got, want = runner.get_signature_runner()(a=a, b=b), two(a, b)
        return {k: relative_error(got[k], want[k].numpy()) for k in ("p", "q")}

    before, after = errors(content), errors(edited)
    assert fixed >= 1 and max(after.values()) < 0.01, (before, after)
    assert max(before.values()) > 10 * max(after.values()), (before, after)  # the shared bias was the error


def _ops(content: bytes) -> list[tuple[str, list[str], list[str]]]:
    """(op, input names, output names) of a .tflite, in order."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    names = {d["index"]: d["name"] for d in interpreter.get_tensor_details()}
    return [(op["op_name"], [names[i] for i in op["inputs"] if i >= 0], [names[o] for o in op["outputs"]])
            for op in interpreter._get_ops_details()]


def test_an_int8_step_quantises_the_taps_it_reads_not_its_rings():
    """The converter quantises a float ring where it comes in (all of it, every step); after the edit each
    GATHER reads the float ring and the taps it picked are quantised: the same integers, so the same outputs
    exactly, with no QUANTIZE of a ring left."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from convert.runtime.tflite_edits import gathers_quantised_after

    rng = np.random.default_rng(1)
    w = rng.normal(size=(8, 3)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([64, 1, 4], tf.float32), tf.TensorSpec([], tf.int32),
                                  tf.TensorSpec([1, 4], tf.float32)])
    def step(ring, t, x):
        old = tf.gather(ring, (t + 7) % 64)  # a tap 57 steps back, as a dilated kernel reads its ring
        return {"y": tf.nn.relu(tf.matmul(tf.concat([old, x], axis=-1), w))}

    def feed():
        return {"ring": rng.normal(size=(64, 1, 4)).astype(np.float32), "t": np.array(rng.integers(0, 999), np.int32),
                "x": rng.normal(size=(1, 4)).astype(np.float32)}

    samples = [feed() for _ in range(60)]
    module = tf.Module()
    module.step = step
    converter = tf.lite.TFLiteConverter.from_concrete_functions([step.get_concrete_function()], module)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: iter(samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.float32
    content = converter.convert()
    edited = gathers_quantised_after(content)

    def quantised_rings(data: bytes) -> list:
        return [ins for op, ins, _ in _ops(data) if op == "QUANTIZE" and any("ring" in name for name in ins)]

    assert quantised_rings(content) and not quantised_rings(edited)
    assert [op for op, ins, _ in _ops(edited) if op == "GATHER" and any("ring" in name for name in ins)] == ["GATHER"]
    runners = [Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
               .get_signature_runner() for data in (content, edited)]
    outputs = [[runner(**sample)["y"] for runner in runners] for sample in [feed() for _ in range(20)]]
    assert all(np.array_equal(before, after) for before, after in outputs)
    assert np.count_nonzero([before for before, _ in outputs]) > 10


def test_an_int8_report_says_when_it_is_far_from_the_float_step():
    from convert.runtime.quantize import words

    close = {"steps": 100, "relative_error": 0.02, "argmax_agreement": 0.99}
    assert "far from" not in words(close, 30, 100) and "30% of the float step's" in words(close, 30, 100)
    assert "far from the float step" in words({**close, "argmax_agreement": 0.5}, 30, 100)
    assert "far from the float step" in words({"steps": 100, "relative_error": 0.3}, 30, 100)


def test_the_step_traced_apart_equals_the_fused_step():
    """What an int8 step is traced from (every convolution its own matmul, pairwise sums) computes the same
    step as the fused one, over 300 steps from the initial state; the stream is fused again afterwards."""
    from convert.runtime.export import initial_state, step_function

    stream = stream_of(WAVENET)
    fused = step_function(stream, 2)
    with stream.apart():
        apart = step_function(stream, 2)
        assert stream.pairwise
    assert not stream.pairwise and len(stream._groups) < len(stream._group_of)
    rule = step_rule(stream, 2)
    states = [initial_state(stream, 2)] * 2
    rng = np.random.default_rng(4)
    got, want = [], []
    for _ in range(300):
        x = rng.normal(size=(2, 1)).astype(np.float32) * 0.5
        outs = [{k: v.numpy() for k, v in f(x, *[s["t"]] + [s[n] for n, _, _ in rule]).items()}
                for f, s in zip((fused, apart), states)]
        want.append(outs[0]["y"])
        got.append(outs[1]["y"])
        states = [advance(s, o, rule) for s, o in zip(states, outs)]
    assert relative_error(np.stack(got), np.stack(want)) < 1e-5
