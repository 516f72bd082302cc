"""The practice model under Keras's JAX and PyTorch backends, installed without TensorFlow (`pip install
'causalc[jax]'`, `'causalc[torch]'`): every bundled spec equals the NumPy evaluator and TensorFlow's result,
weights move both ways bit for bit, `model.fit` trains, drawn specs of every family agree, and the commands
that need TensorFlow say so.

CI runs this module in an environment of each backend: KERAS_BACKEND=jax or torch, no TensorFlow
installed, and CAUSALC_TF_REFERENCE naming a folder written by `tests/tf_reference.py` in the TensorFlow
environment. Under TensorFlow the module is skipped.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, SPECS, compiled, generated_model, relative_error, spec_id, weights_of
from evaluator import inputs_of, load, per_step_over_sequence, random_inputs, windows_ending
from strategies import spec_dicts_of_every_family

keras = pytest.importorskip("keras")
BACKEND = keras.backend.backend()
pytestmark = pytest.mark.skipif(BACKEND not in ("jax", "torch"), reason="the JAX and PyTorch backends' tests: "
                                "KERAS_BACKEND=jax or torch (CI runs them without TensorFlow)")
TOLERANCE = 1e-5
REFERENCE = os.environ.get("CAUSALC_TF_REFERENCE")


def _numpy(tensor) -> np.ndarray:
    """A backend's tensor as NumPy (a torch tensor that tracks gradients too)."""
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def test_the_environment_has_no_tensorflow():
    """What `pip install 'causalc[jax]'` or `'causalc[torch]'` gives: the practice side never needs TensorFlow."""
    import convert.api  # noqa: F401
    from convert.runtime import api  # noqa: F401

    if os.environ.get("CI"):
        with pytest.raises(ImportError):
            import tensorflow  # noqa: F401
    assert "tensorflow" not in sys.modules


def test_practice_model_equals_the_evaluator(bundled_spec):
    practice, model = compiled(bundled_spec)
    spec = load(bundled_spec)
    window = practice.analysis.window
    x = random_inputs(spec, window + 40, seed=1)
    got = _numpy(model(x))
    want = per_step_over_sequence(spec, weights_of(model), x, window)
    assert relative_error(got[:, window - 1:], want) < TOLERANCE


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_a_model_saved_by_tensorflow_gives_tensorflows_result(path):
    """The .keras file TensorFlow wrote loads here (causalc.load_model) and computes what TensorFlow did,
    and what the evaluator computes from its weights."""
    if not REFERENCE:
        if os.environ.get("CI"):
            pytest.fail("CAUSALC_TF_REFERENCE is not set: .ci/run writes it with tests/tf_reference.py")
        pytest.skip("no TensorFlow reference (CAUSALC_TF_REFERENCE)")
    import convert.api as causalc

    name = spec_id(path)
    model = causalc.load_model(os.path.join(REFERENCE, name + ".keras"))
    saved = np.load(os.path.join(REFERENCE, name + ".npz"))
    arrays = [saved[f"x{i}"] for i in range(len(saved.files) - 1)]
    x = arrays if len(arrays) > 1 else arrays[0]
    got = _numpy(model(x))
    assert relative_error(got, saved["y"]) < TOLERANCE
    window = causalc.load(path).window
    want = per_step_over_sequence(load(path), weights_of(model), x, window)
    assert relative_error(got[:, window - 1:], want) < TOLERANCE


def test_weights_move_both_ways_bit_for_bit(bundled_spec):
    import convert.api as causalc

    _, model = compiled(bundled_spec)
    step = causalc.to_step(model, bundled_spec)
    back = causalc.from_step(step, bundled_spec)
    before, after = weights_of(model), weights_of(back)
    assert before.keys() == after.keys()
    for name in before:
        for a, b in zip(before[name], after[name]):
            np.testing.assert_array_equal(a, b)
    spec, window = load(bundled_spec), causalc.load(bundled_spec).window
    x = random_inputs(spec, window + 3, seed=3)
    windows = windows_ending(spec, x, [window + 2], window)
    ordered = [windows[node["name"]] for node in inputs_of(spec)]
    got = _numpy(step(ordered if len(ordered) > 1 else ordered[0]))
    last = _numpy(model(x))[:, -1]  # the practice model's last step is the per-step model on its window
    assert relative_error(got, last) < TOLERANCE


def test_fit_reduces_the_loss():
    """A few Adam steps of `model.fit` on a sine, the next sample's mu-law level as the target."""
    import convert.api as causalc

    path = os.path.join(ROOT, "specs", "wavenet.yaml")
    keras.utils.set_random_seed(0)
    model = causalc.practice_model(path)
    t = np.arange(1024 + 1)[None] + 300 * np.arange(4)[:, None]  # four crops of one sine
    signal = (0.8 * np.sin(2 * np.pi * t / 37.0)).astype(np.float32)
    levels = np.round((np.sign(signal) * np.log1p(255 * np.abs(signal)) / np.log1p(255) + 1) / 2 * 255).astype(np.int32)
    x, y = signal[:, :-1, None], levels[:, 1:]
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False))
    history = model.fit(x, y, batch_size=4, epochs=25, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert history[-1] < 0.5 * history[0], history


def test_commands_say_when_they_need_tensorflow(tmp_path):
    from click.testing import CliRunner

    from convert.cli import main

    path = os.path.join(ROOT, "specs", "dense-four.yaml")
    runner = CliRunner()
    result = runner.invoke(main, ["compile", path, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    model = str(tmp_path / "dense-four.keras")
    result = runner.invoke(main, ["to-step", path, model, "-o", str(tmp_path / "step.keras")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["from-step", path, str(tmp_path / "step.keras"), "-o", str(tmp_path / "back.keras")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["import", str(tmp_path / "step.keras"), "-o", str(tmp_path / "imported.yaml")])
    assert result.exit_code == 0, result.output
    for command in (["generate", path, model, "--steps", "4", "-o", str(tmp_path / "g.npy")],
                    ["export-step", path, model, "-o", str(tmp_path / "e")],
                    ["export", path, model, "-o", str(tmp_path / "p.onnx")],
                    ["fold-batchnorm", path, model, "-o", str(tmp_path / "f")],
                    ["bench", path, "--repeats", "1"]):
        result = runner.invoke(main, command)
        assert result.exit_code == 1, (command, result.output)
        assert "needs TensorFlow" in result.output or "runs on TensorFlow" in result.output, result.output
        assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "back.keras", "dense-four.keras", "dense-four.map.json", "dense-four.py", "imported.yaml", "step.keras"]


@settings(max_examples=int(os.environ.get("CAUSALC_BACKEND_EXAMPLES", "30")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(spec=spec_dicts_of_every_family(max_layers=6), seed=st.integers(0, 2**16))
def test_generated_specs_equal_the_evaluator(spec, seed, tmp_path_factory):
    """Specs hypothesis draws — several inputs, exact 'same' padding, every kind — under this backend."""
    analysis, model = generated_model(spec, seed, tmp_path_factory.mktemp(BACKEND))
    window = analysis.window
    x = random_inputs(spec, window + 9, seed=seed)
    got = _numpy(model(x))
    want = per_step_over_sequence(spec, weights_of(model), x, window)
    assert relative_error(got[:, window - 1:], want) < TOLERANCE


@pytest.mark.skipif(BACKEND != "jax", reason="the deployment page's JAX lines: the JAX environment runs them")
def test_the_deployment_pages_jax_lines_run_as_written(tmp_path, monkeypatch):
    """docs/deployment.md's JAX shell line and python block, run as written in the JAX environment (the
    TensorFlow environment's page run, tests/test_keras_docs.py, leaves them to this one)."""
    import shlex
    import subprocess

    import docs

    block = next(b for b in docs.blocks("docs/deployment.md") if b.lang == "sh" and "KERAS_BACKEND=jax" in b.text)
    line = next(c.line for c in docs.commands(block) if c.line.startswith("KERAS_BACKEND=jax causalc "))
    words = shlex.split(line)[2:]
    monkeypatch.chdir(tmp_path)
    os.symlink(os.path.join(ROOT, "specs"), tmp_path / "specs")
    result = subprocess.run([sys.executable, "-m", "convert", *words], capture_output=True, text=True,
                            env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=600)
    assert result.returncode == 0 and (tmp_path / "build" / "wavenet.keras").exists(), result.stderr[-2000:]
    code = next(b for b in docs.blocks("docs/deployment.md") if b.lang == "python" and '"jax"' in b.text)
    namespace: dict = {}
    exec(compile(code.text, code.where, "exec"), namespace)
    assert namespace["step"].output_shape == (None, 256)
