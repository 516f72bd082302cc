"""`same_padding: exact`: Keras's per-window 'same' padding, compiled exactly, in both practice forms (the
edge construction and per-window evaluation), against the evaluator, the per-step model, the stream and
an imported Keras model; explain's and lint's account of the cost."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from conftest import ROOT, advance, randomize, relative_error, step_rule, weights_of
from evaluator import per_step_over_sequence
from test_keras_per_step import assert_per_step_contract

keras = pytest.importorskip("keras")
SAME = os.path.join(ROOT, "tests", "specs", "same.yaml")


@pytest.fixture(params=["edges", "windows"])
def form(request, monkeypatch):
    """Force one practice form: the edge construction everywhere, or per-window evaluation everywhere."""
    from convert.analysis import same as lower_same

    monkeypatch.setattr(lower_same, "PER_WINDOW_BELOW", 0.0 if request.param == "edges" else float("inf"))
    return request.param


def _spec_at(tmp_path, window: int) -> tuple[str, dict]:
    spec = yaml.safe_load(open(SAME, encoding="utf-8"))
    spec["input"]["window"] = window
    path = tmp_path / f"same-{window}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path), spec


@pytest.mark.parametrize("window", [47, 13, 5])  # interior positions in most layers; few; none
def test_every_same_construction_matches_the_evaluator(form, window, tmp_path):
    from convert import api
    from convert.runtime.stream import StreamingModel

    path, spec = _spec_at(tmp_path, window)
    analysis = api.load(path)
    model = api.practice_model(analysis)
    randomize(model, window)
    rng = np.random.default_rng(window)
    x = rng.normal(size=(2, window + 12, 2)).astype(np.float32)
    got = np.asarray(model(x))
    want = per_step_over_sequence(spec, weights_of(model), x, window)
    assert relative_error(got[:, window - 1:], want) < 1e-5
    assert_per_step_contract(path, spec, model, seed=window)

    saved = tmp_path / "model.keras"
    model.save(saved)
    reloaded = keras.saving.load_model(saved, safe_mode=True)
    np.testing.assert_array_equal(np.asarray(reloaded(x)), got)
    stream = StreamingModel(reloaded, path)
    stream.reset(batch_size=2)
    assert relative_error(stream.run(x), got) < 1e-5
    stream.reset(batch_size=2)
    first = np.stack([stream.step(x[:, t]) for t in range(3)], axis=1)
    state = stream.get_state()
    stream.set_state(state)
    rest = stream.run(x[:, 3:])
    assert relative_error(np.concatenate([first, rest], axis=1), got) < 1e-5


def test_the_forms_are_chosen_by_cost():
    from convert import api
    from convert.lowering import lower

    fcn = lower(api.load(os.path.join(ROOT, "specs", "fcn-classifier.yaml")))
    tc_resnet = lower(api.load(os.path.join(ROOT, "specs", "tc-resnet.yaml")))
    assert fcn.same == "edges" and tc_resnet.same == "windows"
    assert {layer.cls for layer in fcn.layers if layer.op == "edge"} >= {"EdgeConv1D", "EdgeGlobalPooling1D"}
    assert tc_resnet.layers[0].cls == "Windows1D"


def test_explain_states_edges_and_cost(tmp_path):
    from convert.cli import main

    result = CliRunner().invoke(main, ["explain", os.path.join(ROOT, "specs", "fcn-classifier.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    same = data["same_padding"]
    assert same["form"] == "edges" and same["edge_positions"] == 3 * 2 + 3 * 4 + 3 * 6  # conv, bn, relu per block
    rows = {row["name"]: row for row in data["layers"]}
    assert rows["conv1"]["same_padding"] == "1+1" and rows["conv3"]["edges"] == "6/500"
    # per-window evaluation: the convolutions and batch norms over every position of the window, then the Dense
    assert data["per_step_macs_per_window"] == 500 * (3 * 64 + 2 * 3 * 64 * 64 + 3 * 64) + 64 * 2
    assert same["vs_per_window"] > 80 and same["macs_per_output_step"] == data["macs_per_output_step"]
    text = CliRunner().invoke(main, ["explain", os.path.join(ROOT, "specs", "tc-resnet.yaml")]).output
    assert "per-window evaluation inside the practice model" in text
    assert "b3_conv2: every position is an edge position from here on" in text


def test_an_imported_same_padding_model_round_trips(tmp_path):
    """A per-step Keras model with 'same' layers and ZeroPadding1D: imported, its weights carried to the
    practice model and back bit for bit, and the practice model equal to it on every window."""
    from convert import api
    from convert.cli import main

    inputs = keras.Input((30, 3))
    x = keras.layers.Conv1D(6, 5, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.ZeroPadding1D((1, 2), name="zp")(x)
    x = keras.layers.MaxPooling1D(3, strides=2, padding="same", name="mp")(x)
    x = keras.layers.SeparableConv1D(6, 3, padding="same", name="sep")(x)
    x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    step = keras.Model(inputs, keras.layers.Dense(4, name="out")(x), name="imported")
    randomize(step, 5)
    step.save(tmp_path / "step.keras")
    runner = CliRunner()
    result = runner.invoke(main, ["import", str(tmp_path / "step.keras"), "-o", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 0, result.output
    assert "same_padding: exact" in (tmp_path / "spec.yaml").read_text()
    practice = api.from_step(step, str(tmp_path / "spec.yaml"))
    back = api.to_step(practice, str(tmp_path / "spec.yaml"))
    for a, b in zip(step.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)
    sequence = np.random.default_rng(6).normal(size=(1, 50, 3)).astype(np.float32)
    windows = np.stack([sequence[0, t - 29: t + 1] for t in range(29, 50)])
    assert relative_error(np.asarray(practice(sequence))[0, 29:], np.asarray(step(windows))) < 1e-5


def test_same_padding_without_the_option_explains_it(tmp_path):
    from convert.pipeline import check

    path = tmp_path / "s.yaml"
    path.write_text("input: {channels: 1, window: 8}\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 3, "
                    "padding: same}\n  - {type: GlobalAveragePooling1D}\n")
    found = check(str(path)).diagnostics
    assert [d.code for d in found] == ["E200"] and "same_padding: exact" in found[0].help
    path.write_text("same_padding: exact\n" + path.read_text())
    assert check(str(path)).diagnostics == []


REGRESSION = """name: regression
same_padding: exact
input: {channels: 1, window: 24}
layers:
  - {name: c1, type: Conv1D, filters: 4, kernel_size: 5, padding: same, activation: tanh}
  - {name: pool, type: AveragePooling1D, pool_size: 2, padding: same}
  - {name: c2, type: DepthwiseConv1D, kernel_size: 3, padding: same, activation: tanh}
  - {name: flat, type: Flatten}
  - {name: out, type: Dense, units: 1}
"""


def test_export_and_generate_in_both_forms(form, tmp_path):
    """The exported step (SavedModel and TFLite, state as inputs and outputs) equals the stream at every
    step, and `causalc generate` feeds a regression output back, in either form."""
    import tensorflow as tf

    from convert import api
    from convert.cli import main
    from convert.runtime.export import tensor_name
    from convert.runtime.stream import StreamingModel

    path = tmp_path / "regression.yaml"
    path.write_text(REGRESSION)
    model = api.practice_model(str(path))
    randomize(model, 8)
    model.save(tmp_path / "regression.keras")
    stream = StreamingModel(model, str(path))
    written = stream.export(str(tmp_path / "export"), batch_size=1)
    serving = tf.saved_model.load(written["saved_model"]).signatures["serving_default"]
    runner = tf.lite.Interpreter(model_path=written["tflite"]).get_signature_runner()
    shapes = stream.ring_shapes(1)
    state = {"t": np.array(0, np.int32), **{tensor_name(n): np.zeros(shapes[n], np.float32) for n in stream.ring_names}}
    lite_state = dict(state)
    x = np.random.default_rng(9).normal(size=(1, 40, 1)).astype(np.float32)
    want = np.asarray(model(x))
    for t in range(x.shape[1]):
        out = serving(x=tf.constant(x[:, t]), **{k: tf.constant(v) for k, v in state.items()})
        lite = runner(x=x[:, t], **lite_state)
        np.testing.assert_allclose(out["y"].numpy(), want[:, t], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lite["y"], want[:, t], rtol=1e-4, atol=1e-5)
        state = advance(state, {k: v.numpy() for k, v in out.items()}, step_rule(stream, 1))
        lite_state = advance(lite_state, lite, step_rule(stream, 1))
    result = CliRunner().invoke(main, ["generate", str(path), str(tmp_path / "regression.keras"), "--steps", "30",
                                       "-o", str(tmp_path / "out.npy")])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "out.npy").shape == (30, 1)


@pytest.mark.slow  # the fast run loads saved edge layers in safe mode (test_keras_outputs' fixtures)
def test_both_forms_reload_in_a_fresh_process_in_safe_mode(tmp_path):
    """`import convert` registers the edge and per-window layers, as it does causalc's others."""
    import subprocess
    import sys

    from convert import api

    x = np.random.default_rng(2).normal(size=(1, 120, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for name, cls in (("fcn-classifier", "EdgeConv1D"), ("matchboxnet", "Windows1D")):
        path = os.path.join(ROOT, "specs", f"{name}.yaml")
        model = api.practice_model(path)
        assert cls in {type(layer).__name__ for layer in model.layers}
        model.save(tmp_path / f"{name}.keras")
        channels = api.load(path).spec.inputs[0].channels
        code = ("import convert, keras, numpy as np\n"
                f"m = keras.saving.load_model({str(tmp_path / (name + '.keras'))!r}, safe_mode=True)\n"
                f"x = np.repeat(np.load({str(tmp_path / 'x.npy')!r}), {channels}, axis=-1)\n"
                f"np.save({str(tmp_path / 'y.npy')!r}, np.asarray(m(x)))\n")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.asarray(model(np.repeat(x, channels, axis=-1))))
