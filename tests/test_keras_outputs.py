"""`causalc compile` outputs: the saved model reloads safely in a fresh process, the generated source
rebuilds it, and the text outputs are byte-for-byte deterministic."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT, SPECS
from convert.cli import main

pytest.importorskip("keras")
COMPILED = ["wavenet", "pooling", "flatten-head", "shallow-fbcsp"]


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    runner = CliRunner()
    for stem in COMPILED:
        result = runner.invoke(main, ["compile", os.path.join(ROOT, "specs", f"{stem}.yaml"), "-o", str(out)])
        assert result.exit_code == 0, result.output
    return out


def test_compile_writes_three_files(build):
    for stem in COMPILED:
        for suffix in (".keras", ".map.json", ".py"):
            assert (build / f"{stem}{suffix}").stat().st_size > 0
    assert not [p for p in os.listdir(build) if p.startswith(".causalc-")]  # no temporary files left


def test_text_outputs_are_deterministic(build, tmp_path):
    spec = os.path.join(ROOT, "specs", "pooling.yaml")
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    for suffix in (".map.json", ".py"):
        assert (tmp_path / f"pooling{suffix}").read_bytes() == (build / f"pooling{suffix}").read_bytes()


@pytest.mark.parametrize("order", ["import convert, keras", pytest.param("import keras, convert", marks=pytest.mark.slow)])
def test_reload_in_fresh_process_with_safe_mode(build, tmp_path, order):
    x = np.random.default_rng(0).normal(size=(2, 40, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = (f"{order}\nimport numpy as np\n"
            f"m = keras.saving.load_model({str(build / 'pooling.keras')!r}, safe_mode=True)\n"
            f"np.save({str(tmp_path / 'y.npy')!r}, np.asarray(m(np.load({str(tmp_path / 'x.npy')!r}))))\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    import keras

    import convert  # noqa: F401
    here = keras.saving.load_model(str(build / "pooling.keras"))
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.asarray(here(x)))


@pytest.mark.parametrize("stem", COMPILED)
def test_generated_source_rebuilds_both_models(build, stem):
    import importlib.util

    import keras

    spec_path = os.path.join(ROOT, "specs", f"{stem}.yaml")
    step_path = build / f"{stem}.step.keras"
    result = CliRunner().invoke(main, ["to-step", spec_path, str(build / f"{stem}.keras"), "-o", str(step_path)])
    assert result.exit_code == 0, result.output
    spec = importlib.util.spec_from_file_location(f"generated_{stem.replace('-', '_')}", build / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for function, saved_path, length in [(module.build_practice_model, build / f"{stem}.keras", 1100),
                                         (module.build_per_step_model, step_path, None)]:
        rebuilt, saved = function(), keras.saving.load_model(str(saved_path))
        assert [l.name for l in rebuilt.layers] == [l.name for l in saved.layers]
        rebuilt.set_weights(saved.get_weights())
        shape = (3, length or saved.input_shape[1], saved.input_shape[-1])
        x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
        np.testing.assert_array_equal(np.asarray(rebuilt(x)), np.asarray(saved(x)))


def test_to_step_from_step_round_trip_on_the_command_line(build, tmp_path):
    import keras

    spec = os.path.join(ROOT, "specs", "pooling.yaml")
    runner = CliRunner()
    assert runner.invoke(main, ["to-step", spec, str(build / "pooling.keras"), "-o", str(tmp_path / "s.keras")]).exit_code == 0
    assert runner.invoke(main, ["from-step", spec, str(tmp_path / "s.keras"), "-o", str(tmp_path / "p.keras")]).exit_code == 0
    original = keras.saving.load_model(str(build / "pooling.keras")).get_weights()
    for a, b in zip(original, keras.saving.load_model(str(tmp_path / "p.keras")).get_weights()):
        np.testing.assert_array_equal(a, b)
    step = keras.saving.load_model(str(tmp_path / "s.keras"))
    assert step.input_shape == (None, 17, 2) and step.output_shape == (None, 2)
    assert {type(l).__name__ for l in step.layers} >= {"Conv1D", "MaxPooling1D", "AveragePooling1D", "Flatten", "Dense"}


def _mismatch(tmp_path, spec_name: str, model) -> str:
    model.save(tmp_path / "m.keras")
    result = CliRunner().invoke(main, ["to-step", os.path.join(ROOT, "specs", spec_name), str(tmp_path / "m.keras"),
                                       "-o", str(tmp_path / "out.keras")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out.keras").exists()
    return result.output


def test_mismatched_models_name_the_first_difference(tmp_path):
    import keras

    from convert import api

    practice = api.practice_model(os.path.join(ROOT, "specs", "strided-stack.yaml"))
    out = _mismatch(tmp_path, "residual.yaml", practice)
    assert "input `input`: expected 4 channel(s); found 1" in out

    inputs = keras.Input((None, 1), name="input")
    wrong = keras.Model(inputs, keras.layers.Conv1D(8, 2, padding="causal", name="c1")(inputs))
    assert "layer `c1`: expected kernel (2, 1, 16), bias (16,); found (2, 1, 8), (8,)" in _mismatch(tmp_path, "strided-stack.yaml", wrong)

    wrong = keras.Model(inputs, keras.layers.Dense(16, name="c1")(inputs))
    assert "layer `c1`: expected class Conv1D; found Dense" in _mismatch(tmp_path, "strided-stack.yaml", wrong)

    wrong = keras.Model(inputs, keras.layers.Conv1D(16, 2, padding="causal", name="c0")(inputs))
    assert "layer `c1`: expected a Conv1D layer with kernel (2, 1, 16), bias (16,); found no layer" in \
        _mismatch(tmp_path, "strided-stack.yaml", wrong)


@pytest.mark.parametrize("content, says", [(b"", "not a Keras model file (empty)"),
                                           (b"not a zip", "not a Keras model file (not a .keras zip archive)"),
                                           (b"PK\x03\x04broken", "not a Keras model file")])
def test_unreadable_model_files(tmp_path, content, says):
    (tmp_path / "m.keras").write_bytes(content)
    result = CliRunner().invoke(main, ["to-step", os.path.join(ROOT, "specs", "dense-four.yaml"),
                                       str(tmp_path / "m.keras"), "-o", str(tmp_path / "out.keras")])
    assert result.exit_code == 1 and says in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out.keras").exists()


def test_weight_map_matches_the_saved_model(build):
    """Every weighted layer of both models is in the map, in order, with all its weights (names, shapes and
    count), and the stated transform carries the practice values to the per-step ones exactly."""
    import keras

    from convert import api

    for stem in COMPILED:
        data = json.loads((build / f"{stem}.map.json").read_text())
        assert data["format"] == "causalc.weight-map" and data["version"] == 1
        model = keras.saving.load_model(str(build / f"{stem}.keras"))
        step = api.to_step(model, os.path.join(ROOT, "specs", f"{stem}.yaml"))
        for form, keras_model in (("practice", model), ("per_step", step)):  # each weighted layer exactly once
            weighted = sorted(layer.name for layer in keras_model.layers if layer.weights)
            assert sorted(entry[form]["name"] for entry in data["layers"]) == weighted
        for entry in data["layers"]:
            values = {}
            for form, keras_model in (("practice", model), ("per_step", step)):
                layer = keras_model.get_layer(entry[form]["name"])
                assert type(layer).__name__ == entry[form]["class"]
                names = [w.path.split("/")[-1] for w in layer.weights]
                assert names == list(entry[form]["weights"])  # kernel, then bias where there is one
                assert [list(w.shape) for w in layer.get_weights()] == list(entry[form]["weights"].values())
                values[form] = layer.get_weights()
            transform = entry["transform"]
            kernel_rule = transform if transform == "identity" else transform["kernel"]
            assert kernel_rule in ("identity", "reshape (k, c, u) -> (k*c, u)")
            if kernel_rule == "identity":
                assert entry["practice"]["weights"] == entry["per_step"]["weights"]
            else:
                k, c, u = entry["practice"]["weights"]["kernel"]
                assert entry["per_step"]["weights"]["kernel"] == [k * c, u] and transform.get("bias", "identity") == "identity"
            for practice_value, step_value in zip(values["practice"], values["per_step"]):
                np.testing.assert_array_equal(np.reshape(practice_value, step_value.shape), step_value)
        flat = [e for e in data["layers"] if "flatten" in e]
        if stem == "flatten-head":
            (head,) = flat
            assert head["per_step"]["weights"]["kernel"] == [320, 500]
            assert head["practice"]["weights"]["kernel"] == [10, 32, 500]


def test_text_outputs_are_identical_across_processes(tmp_path):
    """The same spec gives the same .py and .map.json bytes in fresh processes with different hash seeds."""
    code = ("import sys\nfrom convert.backends.python_source import source\n"
            "from convert.backends.weight_map import weight_map_json\nfrom convert.lowering import lower, per_step_graph\n"
            "from convert.pipeline import front_end\nanalysis = front_end(sys.argv[1])\n"
            "for warmup in ('causal', 'exact'):\n    practice, per_step = lower(analysis, warmup), per_step_graph(analysis)\n"
            "    sys.stdout.write(source(practice, per_step) + weight_map_json(practice, per_step))\n")
    outputs = []
    for seed in ("1", "2"):  # the emitters need no Keras: what compile writes, without building the model
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", code, os.path.join(ROOT, "specs", "densenet.yaml")],
                                capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and "def build_practice_model" in outputs[0]
    runner = CliRunner()  # and they are the bytes compile writes
    assert runner.invoke(main, ["compile", os.path.join(ROOT, "specs", "densenet.yaml"), "-o", str(tmp_path)]).exit_code == 0
    written = "".join((tmp_path / f"densenet{suffix}").read_text() for suffix in (".py", ".map.json"))
    assert outputs[0].startswith(written)


def test_every_bundled_spec_compiles(tmp_path):
    runner = CliRunner()
    for spec in SPECS:
        result = runner.invoke(main, ["compile", spec, "-o", str(tmp_path)])
        assert result.exit_code == 0, result.output


def _readme_block(heading: str, page: str = "docs/training.md") -> str:
    import docs

    return docs.python_block(page, heading)


def test_readme_training_example_runs(tmp_path, monkeypatch):
    spec = os.path.join(ROOT, "specs", "strided-stack.yaml")
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path / "build")]).exit_code == 0
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_readme_block("## Training the compiled model"), "docs/training.md", "exec"), namespace)
    history = namespace["model"].history.history["loss"]
    assert len(history) == 5 and history[-1] < history[0]


def test_compile_reports_warnings_and_still_compiles(tmp_path):
    spec = tmp_path / "warn.yaml"
    spec.write_text("input: {channels: 1, window: 8}\nlayers:\n  - {type: Conv1D, name: a, filters: 1, kernel_size: 8}\n"
                    "  - {type: Conv1D, name: b, inputs: input, filters: 1, kernel_size: 8}\noutput: a\n")
    result = CliRunner().invoke(main, ["compile", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0 and "warning W300" in result.output
    assert (tmp_path / "out" / "warn.keras").exists()


@pytest.mark.parametrize("stem", ["conditioned-exact", "kinds-causal", "same-causal", "same-exact"])
def test_models_saved_by_an_earlier_causalc_still_load_and_agree(stem):
    """Practice models saved before the package was laid out in rooms (causalc 0.1.0 at 35aae8a; their
    layers named `convert.layers`, `convert.edge_layers`, `convert.input_layers`) load in safe mode and
    compute what they computed then: to float32 rounding, since the outputs were recorded on another
    machine and TensorFlow's CPU kernels sum in an order that depends on the CPU's vector width."""
    import keras

    folder = os.path.join(ROOT, "tests", "fixtures", "saved")
    model = keras.saving.load_model(os.path.join(folder, f"{stem}.keras"))
    saved = np.load(os.path.join(folder, f"{stem}.npz"))
    xs = [saved[f"x{i}"] for i in range(len(saved.files) - 1)]
    got = np.asarray(model(xs if len(xs) > 1 else xs[0]))
    np.testing.assert_allclose(got, saved["y"], rtol=1e-5, atol=1e-6)
