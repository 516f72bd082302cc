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

from conftest import ROOT, SPECS, relative_error
from convert.cli import main

pytest.importorskip("keras")
COMPILED = ["wavenet", "pooling", "flatten-head"]


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


@pytest.mark.parametrize("order", ["import convert, keras", "import keras, convert"])
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
def test_generated_source_rebuilds_the_model(build, stem):
    import importlib.util

    import keras

    spec = importlib.util.spec_from_file_location(f"generated_{stem.replace('-', '_')}", build / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt = module.build_practice_model()
    saved = keras.saving.load_model(str(build / f"{stem}.keras"))
    assert [l.name for l in rebuilt.layers] == [l.name for l in saved.layers]
    rebuilt.set_weights(saved.get_weights())
    channels = saved.input_shape[-1]
    x = np.random.default_rng(1).normal(size=(1, 1100, channels)).astype(np.float32)
    assert relative_error(np.asarray(rebuilt(x)), np.asarray(saved(x), np.float64)) == 0.0


def test_weight_map_matches_the_saved_model(build):
    import keras

    for stem in COMPILED:
        data = json.loads((build / f"{stem}.map.json").read_text())
        assert data["format"] == "causalc.weight-map" and data["version"] == 1
        model = keras.saving.load_model(str(build / f"{stem}.keras"))
        for entry in data["layers"]:
            layer = model.get_layer(entry["practice"]["name"])
            assert layer.__class__.__name__ == entry["practice"]["class"]
            shapes = [list(w.shape) for w in layer.get_weights()]
            assert shapes == list(entry["practice"]["weights"].values())
            per_step = entry["per_step"]["weights"]
            for (name, shape), practice_shape in zip(per_step.items(), shapes):
                assert np.prod(shape) == np.prod(practice_shape)
        flat = [e for e in data["layers"] if "flatten" in e]
        if stem == "flatten-head":
            (head,) = flat
            assert head["per_step"]["weights"]["kernel"] == [320, 500]
            assert head["practice"]["weights"]["kernel"] == [10, 32, 500]


def test_every_bundled_spec_compiles(tmp_path):
    runner = CliRunner()
    for spec in SPECS:
        result = runner.invoke(main, ["compile", spec, "-o", str(tmp_path)])
        assert result.exit_code == 0, result.output


def _readme_block(heading: str) -> str:
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split(heading, 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_training_example_runs(tmp_path, monkeypatch):
    spec = os.path.join(ROOT, "specs", "strided-stack.yaml")
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path / "build")]).exit_code == 0
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_readme_block("## Training the compiled model"), "README.md", "exec"), namespace)
    history = namespace["model"].history.history["loss"]
    assert len(history) == 5 and history[-1] < history[0]
