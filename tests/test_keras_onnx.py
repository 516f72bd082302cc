"""ONNX export, checked with ONNX Runtime: the practice model at every step for any batch and length, and the
exported step, fed its own state back, equal to the stream step by step for 1,000 steps."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import (ROOT, SPECS, advance, compiled, exported_step, generated_model, relative_error, spec_id, step_rule,
                      stream_of)
from evaluator import at_step, listed, load, random_inputs
from strategies import spec_dicts_of_every_family

tf = pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

STEPS = 1000
# the fast run converts densenet's practice model (tf2onnx's optimiser loop) and wavenet's step; vocoder (several
# inputs, categorical) and every other bundled spec in the slow run
FAST = [os.path.join(ROOT, "specs", name) for name in ("wavenet.yaml", "vocoder.yaml", "densenet.yaml")]
SLOW_IN_FAST = {"wavenet.yaml": ("practice",), "vocoder.yaml": ("practice", "step")}


def _fast(kind: str, paths):
    return [pytest.param(p, marks=pytest.mark.slow) if kind in SLOW_IN_FAST.get(os.path.basename(p), ()) else p
            for p in paths]
def _session(content: bytes):
    return ort.InferenceSession(content, providers=["CPUExecutionProvider"])


def assert_practice_matches(path: str) -> None:
    """The exported practice model takes any batch and length and equals Keras at every step."""
    from convert.runtime import onnx_export

    _, model = compiled(path)
    analysis = stream_of(path).analysis
    runner = _session(onnx_export.convert(onnx_export.practice_function(model, analysis.spec.inputs)))
    assert [i.name for i in runner.get_inputs()] == [node.name for node in analysis.spec.inputs]
    spec = load(path)
    for batch, steps, seed in ((1, analysis.window + 3, 0), (3, analysis.window + 700, 1)):
        x = listed(random_inputs(spec, steps, batch, seed))
        got = runner.run(["y"], {node.name: v for node, v in zip(analysis.spec.inputs, x)})[0]
        want = np.asarray(model(x if len(x) > 1 else x[0]), np.float64)
        assert got.shape == want.shape == (batch, steps, want.shape[-1])
        assert relative_error(got, want) < 1e-5


def assert_step_matches(path: str, steps: int = STEPS, batch: int = 2) -> None:
    """The exported step run by its runner (convert.deploy.runner: the rings in ONNX Runtime's buffers, each
    column written at row t % length) equals the stream at every step, and so the practice model."""
    from convert.deploy.runner import StepRunner

    stream = stream_of(path)
    runner = StepRunner(exported_step(path, batch))
    names = sorted(o.name for o in runner._engine.session.get_outputs())
    assert names == sorted(["y"] + [column for _, column, _ in step_rule(stream, batch)])
    spec = load(path)
    x = random_inputs(spec, steps, batch, seed=5)
    stream.reset(batch)
    want = stream.run(x)  # checked against the practice model by test_keras_stream
    got = runner.run(listed(x))
    assert runner.t == steps
    assert relative_error(got, want) < 1e-5


@pytest.mark.parametrize("path", _fast("practice", FAST), ids=spec_id)
def test_practice_model(path):
    assert_practice_matches(path)


@pytest.mark.parametrize("path", _fast("step", FAST[:2]), ids=spec_id)
def test_step_for_a_thousand_steps(path):
    assert_step_matches(path)


@pytest.mark.slow
@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_every_bundled_spec(path):
    assert_practice_matches(path)
    assert_step_matches(path)


def test_a_one_channel_output_keeps_its_layout(tmp_path):
    """tf2onnx's reshape pass turned this model's (batch, T, 1) output into (batch, 1, T): it is left out."""
    from conftest import randomize
    from convert import api
    from convert.runtime import onnx_export

    path = tmp_path / "square.yaml"
    path.write_text("input: {channels: 1}\nlayers:\n  - {type: Conv1D, name: l0, kernel_size: 1, filters: 1, "
                    "activation: square}\n")
    analysis = api.load(path)
    model = api.practice_model(analysis)
    randomize(model, 0)
    x = np.random.default_rng(0).normal(size=(2, 8, 1)).astype(np.float32)
    got = _session(onnx_export.convert(onnx_export.practice_function(model, analysis.spec.inputs))).run(["y"], {"input": x})[0]
    assert got.shape == (2, 8, 1)
    assert relative_error(got, np.asarray(model(x), np.float64)) < 1e-5


def test_exact_warmup_practice_and_step(tmp_path):
    """In exact warm-up the practice model pads its input; the step starts from the warm-up's state."""
    from convert.cli import main

    path = os.path.join(ROOT, "specs", "strided-stack.yaml")
    runner = CliRunner()
    assert runner.invoke(main, ["compile", path, "-o", str(tmp_path), "--warmup", "exact"]).exit_code == 0
    model = str(tmp_path / "strided-stack.keras")
    result = runner.invoke(main, ["export", path, model, "-o", str(tmp_path / "p.onnx"), "--warmup", "exact"])
    assert result.exit_code == 0, result.output
    assert "ONNX Runtime equals Keras" in result.output
    result = runner.invoke(main, ["export-step", path, model, "-o", str(tmp_path / "s"), "--format", "onnx",
                                  "--warmup", "exact"])
    assert result.exit_code == 0, result.output
    assert "ONNX Runtime equals Keras" in result.output and (tmp_path / "s" / "step.onnx").is_file()
    import convert.api as causalc

    practice = causalc.load_model(model)
    x = np.random.default_rng(0).normal(size=(2, 50, 1)).astype(np.float32)
    got = _session((tmp_path / "p.onnx").read_bytes()).run(["y"], {"input": x})[0]
    assert relative_error(got, np.asarray(practice(x), np.float64)) < 1e-5
    # the step from the state written beside it is the practice model, warm-up steps included
    state = dict(np.load(tmp_path / "s" / "initial_state.npz"))
    assert int(state["t"]) == causalc.load(path).window - 1 and any(np.any(v != 0) for v in state.values())
    step = _session((tmp_path / "s" / "step.onnx").read_bytes())
    names = [o.name for o in step.get_outputs()]
    rule = step_rule(stream_of(path), 1)
    stepped = []
    for t in range(50):
        out = dict(zip(names, step.run(names, {"x": x[:1, t], **state})))
        stepped.append(out["y"])
        state = advance(state, out, rule)
    assert relative_error(np.stack(stepped, axis=1), np.asarray(practice(x[:1]), np.float64)) < 1e-5


def test_export_command_errors_write_nothing(tmp_path):
    from convert.cli import main

    path = os.path.join(ROOT, "specs", "densenet.yaml")
    other = os.path.join(ROOT, "specs", "residual.yaml")
    runner = CliRunner()
    assert runner.invoke(main, ["compile", other, "-o", str(tmp_path)]).exit_code == 0
    out = tmp_path / "d.onnx"
    result = runner.invoke(main, ["export", path, str(tmp_path / "residual.keras"), "-o", str(out)])
    assert result.exit_code == 1 and "does not fit" in result.output and not out.exists()
    result = runner.invoke(main, ["export", path, str(tmp_path / "missing.keras"), "-o", str(out)])
    assert result.exit_code == 1 and "no such file" in result.output and not out.exists()
    result = runner.invoke(main, ["export", path, str(tmp_path / "residual.keras"), "-o", str(tmp_path / "d.txt")])
    assert result.exit_code == 2 and "must end in .onnx" in result.output


def test_a_differing_runtime_writes_nothing(tmp_path, monkeypatch):
    """When ONNX Runtime's result differs from Keras's, the command fails and writes nothing."""
    from convert.cli import main
    from convert.runtime import onnx_export

    path = os.path.join(ROOT, "specs", "dense-four.yaml")
    runner = CliRunner()
    assert runner.invoke(main, ["compile", path, "-o", str(tmp_path)]).exit_code == 0
    monkeypatch.setattr(onnx_export, "relative_error", lambda got, want: 0.5)
    out = tmp_path / "d.onnx"
    result = runner.invoke(main, ["export", path, str(tmp_path / "dense-four.keras"), "-o", str(out)])
    assert result.exit_code == 1 and "differs from Keras's by 5.00e-01" in result.output and not out.exists()
    result = runner.invoke(main, ["export-step", path, str(tmp_path / "dense-four.keras"), "-o", str(tmp_path / "s"),
                                  "--format", "onnx"])
    assert result.exit_code == 1 and "nothing written" in result.output and not (tmp_path / "s" / "step.onnx").exists()


def test_without_the_converter_the_command_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    from convert.cli import main

    path = os.path.join(ROOT, "specs", "dense-four.yaml")
    runner = CliRunner()
    assert runner.invoke(main, ["compile", path, "-o", str(tmp_path)]).exit_code == 0
    real = builtins.__import__

    def absent(name, *args, **kwargs):
        if name.split(".")[0] == "tf2onnx":
            raise ImportError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", absent)
    out = tmp_path / "d.onnx"
    result = runner.invoke(main, ["export", path, str(tmp_path / "dense-four.keras"), "-o", str(out)])
    assert result.exit_code == 1 and "pip install 'causalc[onnx]'" in result.output and not out.exists()


def _generated_check(spec: dict, seed: int, folder) -> None:
    from convert.runtime import onnx_export
    from convert.runtime.stream import StreamingModel

    analysis, model = generated_model(spec, seed, folder)
    nodes = analysis.spec.inputs
    runner = _session(onnx_export.convert(onnx_export.practice_function(model, nodes)))
    x = listed(random_inputs(spec, analysis.window + 30, 2, seed))
    got = runner.run(["y"], {node.name: v for node, v in zip(nodes, x)})[0]
    assert relative_error(got, np.asarray(model(x if len(x) > 1 else x[0]), np.float64)) < 1e-5

    from convert.runtime.export import input_name, step_function, tensor_name

    stream = StreamingModel(model, analysis)
    runner = _session(onnx_export.convert(step_function(stream, 2)))
    shapes, outputs = stream.ring_shapes(2), [o.name for o in runner.get_outputs()]
    state = {"t": np.array(0, np.int32), **{tensor_name(n): np.zeros(shapes[n], np.float32) for n in stream.ring_names}}
    stream.reset(2)
    steps = analysis.window + 30
    want, several, stepped = stream.run(x if len(x) > 1 else x[0]), len(nodes) > 1, []
    for t in range(steps):
        values = listed(at_step(spec, x if len(x) > 1 else x[0], t))
        out = dict(zip(outputs, runner.run(outputs, {**{input_name(n, several): v for n, v in zip(nodes, values)},
                                                    **state})))
        stepped.append(out["y"])
        state = advance(state, out, step_rule(stream, 2))
    assert relative_error(np.stack(stepped, axis=1), want) < 1e-5


GENERATED = spec_dicts_of_every_family(max_layers=5)


@settings(max_examples=int(os.environ.get("CAUSALC_ONNX_EXAMPLES", "4")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(spec=GENERATED, seed=st.integers(0, 2**16))
def test_generated_specs_export_exactly(spec, seed, tmp_path):
    """Specs hypothesis draws (several inputs, exact 'same' padding): the practice model and the step in
    ONNX Runtime equal Keras and the stream."""
    _generated_check(spec, seed, tmp_path)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=GENERATED, seed=st.integers(0, 2**16))
def test_many_generated_specs_export_exactly(spec, seed, tmp_path_factory):
    _generated_check(spec, seed, tmp_path_factory.mktemp("onnx"))


def test_an_op_without_an_onnx_form_is_a_clear_error(tmp_path, monkeypatch):
    """tf2onnx leaves an op it cannot convert in the graph; causalc names it instead of writing a file that
    would not load (Erfc, exact GELU's, left unconverted here)."""
    from convert.cli import main
    from convert.runtime import onnx_export

    spec = tmp_path / "gelu.yaml"
    spec.write_text("input: {channels: 1}\nlayers:\n  - {type: Conv1D, name: c, filters: 2, kernel_size: 2, "
                    "activation: gelu}\n")
    runner = CliRunner()
    assert runner.invoke(main, ["compile", str(spec), "-o", str(tmp_path)]).exit_code == 0
    model = str(tmp_path / "gelu.keras")
    assert runner.invoke(main, ["export", str(spec), model, "-o", str(tmp_path / "ok.onnx")]).exit_code == 0
    monkeypatch.setattr(onnx_export, "_erfc", lambda ctx, node, name, args: None)
    result = runner.invoke(main, ["export", str(spec), model, "-o", str(tmp_path / "g.onnx")])
    assert result.exit_code == 1 and "cannot convert TensorFlow's Erfc" in result.output
    assert "nothing written" in result.output and not (tmp_path / "g.onnx").exists()
