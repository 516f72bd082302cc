"""The kinds published networks use, beyond the property tests: folding batch norm, the doubling-tree pool
against the direct one, and a model with every custom layer and activation reloaded in safe mode."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from conftest import ROOT, randomize, relative_error, weights_of
from evaluator import per_step_over_sequence

keras = pytest.importorskip("keras")
KINDS = os.path.join(ROOT, "tests", "specs", "kinds.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The kinds spec's practice model with random weights and batch-norm statistics, saved."""
    from convert import api

    folder = tmp_path_factory.mktemp("kinds")
    model = api.practice_model(KINDS)
    randomize(model, 4)
    model.save(folder / "kinds.keras")
    return folder, model


def test_the_kinds_spec_matches_the_evaluator(trained):
    from convert import api

    _, model = trained
    analysis = api.load(KINDS)
    x = np.random.default_rng(2).normal(size=(2, analysis.window + 30, 3)).astype(np.float32)
    want = per_step_over_sequence(yaml.safe_load(open(KINDS)), weights_of(model), x, analysis.window)
    assert relative_error(np.asarray(model(x))[:, analysis.window - 1:], want) < 1e-5


def test_fold_batchnorm_keeps_the_outputs_with_fewer_layers(trained):
    from convert import api
    from convert.cli import main

    folder, model = trained
    result = CliRunner().invoke(main, ["fold-batchnorm", KINDS, str(folder / "kinds.keras"), "-o", str(folder / "out")])
    assert result.exit_code == 0, result.output
    assert "folded 3 BatchNormalization layer(s): bn1, bn2, bn3" in result.output  # bn4, bn5 follow nonlinearities
    spec = folder / "out" / "kinds-folded.yaml"
    folded = keras.saving.load_model(str(folder / "out" / "kinds-folded.keras"))
    assert len(folded.layers) == len(model.layers) - 3
    assert [layer.name for layer in folded.layers if type(layer).__name__ == "BatchNormalization"] == ["bn4", "bn5"]
    x = np.random.default_rng(3).normal(size=(2, 60, 3)).astype(np.float32)
    assert relative_error(np.asarray(folded(x)), np.asarray(model(x), np.float64)) < 1e-5
    step = api.to_step(folded, str(spec))  # the folded spec is a spec like any other
    windows = x[:, -api.load(str(spec)).window:]
    np.testing.assert_allclose(np.asarray(step(windows)), np.asarray(model(x))[:, -1], rtol=1e-4, atol=1e-5)


def test_fold_batchnorm_refuses_a_model_of_another_spec(trained, tmp_path):
    from convert.cli import main

    folder, _ = trained
    other = os.path.join(ROOT, "specs", "dense-four.yaml")
    result = CliRunner().invoke(main, ["fold-batchnorm", other, str(folder / "kinds.keras"), "-o", str(tmp_path)])
    assert result.exit_code == 1 and "does not fit" in result.output and not os.listdir(tmp_path)


@pytest.mark.parametrize("pool_type", ["max", "avg"])
def test_doubling_tree_pool_equals_the_direct_pool(pool_type):
    from convert.layers import DilatedCausalPooling1D

    x = np.random.default_rng(0).normal(size=(2, 80, 3)).astype(np.float32)
    for size in (1, 2, 3, 5, 8, 13, 31, 32):
        for dilation in (1, 2):
            reach = (size - 1) * dilation
            padded = np.concatenate([np.zeros((2, reach, 3), np.float32), x], axis=1)
            taps = np.stack([padded[:, i * dilation: i * dilation + 80] for i in range(size)])
            want = taps.max(0) if pool_type == "max" else taps.mean(0)
            got = np.asarray(DilatedCausalPooling1D(pool_type, size, dilation)(x))
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            valid = np.asarray(DilatedCausalPooling1D(pool_type, size, dilation, padding="valid")(x))
            np.testing.assert_allclose(valid, want[:, reach:], rtol=1e-5, atol=1e-6)


def test_custom_layers_and_activations_reload_in_a_fresh_process_in_safe_mode(trained, tmp_path):
    folder, model = trained
    x = np.random.default_rng(1).normal(size=(2, 30, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = ("import convert, keras, numpy as np\n"
            f"m = keras.saving.load_model({str(folder / 'kinds.keras')!r}, safe_mode=True)\n"
            f"np.save({str(tmp_path / 'y.npy')!r}, np.asarray(m(np.load({str(tmp_path / 'x.npy')!r}))))\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.asarray(model(x)))
    classes = {type(layer).__name__ for layer in model.layers}
    assert {"CausalDepthwiseConv1D", "CausalSeparableConv1D", "DilatedCausalPooling1D", "LayerNormalization"} <= classes


def test_value_by_value_layers_between_flatten_and_dense(tmp_path):
    """Flatten -> Dropout -> Activation -> Rescaling -> Dense: in practice those layers apply to the sequence
    and the Dense still folds the flattened width; the weight map names the Flatten."""
    from convert import api
    from test_keras_per_step import assert_per_step_contract

    text = ("input: {channels: 2}\nlayers:\n  - {type: Conv1D, name: c, filters: 3, kernel_size: 2, strides: 2}\n"
            "  - {type: Flatten, name: flat}\n  - {type: Dropout, name: drop, rate: 0.5}\n"
            "  - {type: Activation, name: act, activation: tanh}\n  - {type: Rescaling, name: r, scale: 2.0}\n"
            "  - {type: Dense, name: out, units: 2}\n")
    path = tmp_path / "between.yaml"
    path.write_text(text.replace("input: {channels: 2}", "input: {channels: 2, window: 8}"))
    practice = api.practice_model(path)
    randomize(practice, 6)
    assert_per_step_contract(str(path), yaml.safe_load(path.read_text()), practice, seed=6)
    (entry,) = [e for e in api.weight_map(path)["layers"] if e["spec_layer"] == "out"]
    assert entry["flatten"] == "flat" and entry["practice"]["weights"]["kernel"] == [4, 3, 2]
    from convert.stream import StreamingModel

    stream = StreamingModel(practice, path)  # the Dropout's ring holds the 3-channel sequence, not 12 values
    stream.reset(2)
    x = np.random.default_rng(7).normal(size=(2, 30, 2)).astype(np.float32)
    assert relative_error(stream.run(x), np.asarray(practice(x), np.float64)) < 1e-5


SHARED = """input: {channels: 2, window: 8}
layers:
  - {type: Conv1D, name: c, filters: 3, kernel_size: 2}
  - {type: BatchNormalization, name: bn, inputs: c}
  - {type: Add, name: skip, inputs: [bn, c]}
  - {type: Conv1D, name: d, filters: 3, kernel_size: 3}
  - {type: BatchNormalization, name: bn2, inputs: d}
  - {type: Flatten, name: f}
  - {type: Dense, name: out, units: 2}
"""


def _assert_folding_keeps_the_outputs(path, model, seed: int = 0) -> list[str]:
    from convert import api
    from convert.runtime.fold import fold_batchnorm

    analysis = api.load(str(path))
    text, folded, names = fold_batchnorm(model, analysis, str(path).replace(".yaml", "-folded.yaml"))
    x = np.random.default_rng(seed).normal(size=(2, analysis.window + 12, analysis.spec.inputs[0].channels))
    x = x.astype(np.float32)
    assert relative_error(np.asarray(folded(x)), np.asarray(model(x), np.float64)) < 1e-5
    return names


def test_a_convolution_that_feeds_another_layer_is_not_folded_into(tmp_path):
    """`c` feeds its BatchNormalization and the skip: folding would hand the skip normalised values."""
    from convert import api

    path = tmp_path / "shared.yaml"
    path.write_text(SHARED)
    model = api.practice_model(str(path))
    randomize(model, 5)
    assert _assert_folding_keeps_the_outputs(path, model) == ["bn2"]


def test_folding_drawn_specs_keeps_their_outputs(tmp_path):
    """Drawn specs with a BatchNormalization after every convolution that feeds a layer: sometimes its only
    reader (folded), sometimes one of several (kept). The folded model computes the same."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from conftest import generated_model
    from strategies import spec_dicts

    @settings(max_examples=16, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(spec=spec_dicts(max_layers=6), seed=st.integers(0, 2**16))
    def check(spec, seed):
        layers = spec["layers"]
        for i, layer in enumerate(list(layers)):  # a BatchNormalization after every convolution read by a layer
            readers = [other for other in layers if layer["name"] in _inputs(other)]
            if layer["type"] != "Conv1D" or not readers:
                continue
            layer["activation"] = "linear"  # what folding needs
            bn = {"type": "BatchNormalization", "name": f"bn{i}", "inputs": layer["name"]}
            layers.insert(layers.index(layer) + 1, bn)
            first = readers[0]  # it reads the BatchNormalization now; any other reader still reads the conv
            first["inputs"] = [bn["name"] if name == layer["name"] else name for name in _inputs(first)]
        analysis, model = generated_model(spec, seed, tmp_path)
        names = _assert_folding_keeps_the_outputs(tmp_path / "generated.yaml", model, seed)
        folded.update(names)

    folded: set = set()
    check()
    assert folded  # some drawn convolutions were folded into


def _inputs(layer: dict) -> list:
    value = layer.get("inputs", [])
    return [value] if isinstance(value, str) else list(value)
