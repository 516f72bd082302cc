"""Models as users hold them: Keras's activation layer classes, TimeDistributed(Dense), several inputs, and
practice-form models (causal WaveNets, keras-tcn's TCN), imported with `--practice`. The practice model
written is compared here with the original model itself: on the window ending at every step t >= W-1 for
a per-step model, at every step for a practice-form one."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from conftest import ROOT, relative_error
from evaluator import per_step_over_sequence

keras = pytest.importorskip("keras")
L = keras.layers
TCN_FIXTURES = os.path.join(ROOT, "tests", "fixtures", "tcn")


def _import(tmp_path, model, *extra):
    """`causalc import MODEL -o SPEC --practice P.keras`: (result, spec path, the practice model or None)."""
    from convert.cli import main

    path = tmp_path / "model.keras"
    if not isinstance(model, (str, os.PathLike)):
        model.save(path)
    else:
        path = model
    spec, practice = tmp_path / "spec.yaml", tmp_path / "practice.keras"
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(spec), "--practice", str(practice), *extra])
    loaded = keras.saving.load_model(str(practice)) if result.exit_code == 0 else None
    return result, spec, loaded


def _randomize(model, seed=0):
    """Weights away from their initial values (alphas and statistics included), so every one matters."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = layer.get_weights()
        if values:
            names = [w.path.split("/")[-1] for w in layer.weights]
            layer.set_weights([rng.uniform(0.5, 1.5, v.shape).astype("float32") if n in ("moving_variance", "gamma")
                               else rng.normal(0, 0.6, v.shape).astype("float32") for n, v in zip(names, values)])


def _per_step_agrees(model, practice, length=48, seed=1):
    """The practice model on a sequence against the model on the window ending at every t >= W-1."""
    rng = np.random.default_rng(seed)
    shapes = [tuple(t.shape) for t in model.inputs]
    window = next(s[1] for s in shapes if len(s) == 3)
    xs = [rng.normal(size=(2, length) + s[2:]).astype("float32") if len(s) == 3 else
          rng.normal(size=(2,) + s[1:]).astype("float32") for s in shapes]
    got = np.asarray(practice(xs if len(xs) > 1 else xs[0]))[:, window - 1:]
    want = []
    for t in range(window - 1, length):
        windows = [x[:, t - window + 1:t + 1] if len(s) == 3 else x for x, s in zip(xs, shapes)]
        want.append(np.asarray(model(windows if len(windows) > 1 else windows[0])))
    return relative_error(got, np.stack(want, axis=1)), xs


def _activation_layers():
    x = keras.Input((20, 2))
    h = L.Conv1D(6, 3, name="c")(x)
    h = L.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2, name="capped")(h)
    h = L.TimeDistributed(L.Dense(5), name="td")(h)
    h = L.LeakyReLU(negative_slope=0.01, name="leaky")(h)  # PyTorch's default slope
    h = L.PReLU(shared_axes=[1], name="prelu")(h)
    h = L.Conv1D(4, 2, strides=2, name="s")(h)
    h = L.ELU(alpha=0.7, name="elu")(h)
    h = L.Dense(3, name="d")(L.Flatten(name="f")(h))
    h = L.PReLU(name="prelu_flat")(h)
    return keras.Model(x, L.Softmax(name="soft")(h), name="acts")


def test_keras_activation_layer_classes_import_with_their_arguments(tmp_path):
    model = _activation_layers()
    _randomize(model)
    result, spec, practice = _import(tmp_path, model)
    assert result.exit_code == 0, result.output
    text = spec.read_text()
    for line in ("{type: ReLU, name: capped, max_value: 1.5, negative_slope: 0.1, threshold: 0.2}",
                 "{type: Dense, name: td, units: 5}", "{type: LeakyReLU, name: leaky, negative_slope: 0.01}",
                 "{type: PReLU, name: prelu}", "{type: ELU, name: elu, alpha: 0.7}", "{type: Softmax, name: soft}"):
        assert line in text, text
    error, xs = _per_step_agrees(model, practice)
    assert error < 1e-5
    # the spec means what the model computes, by the independent evaluator too
    weights = {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}
    want = per_step_over_sequence(yaml.safe_load(text), weights, xs[0], 20)
    assert relative_error(np.asarray(practice(xs[0]))[:, 19:], want) < 1e-5


def test_every_layer_that_cannot_be_read_is_listed_in_one_run(tmp_path):
    x = keras.Input((16, 1))
    h = L.GaussianNoise(0.1, name="noise")(x)
    h = L.Conv1D(4, 2, name="c")(h)
    h = L.UpSampling1D(2, name="up")(h)
    h = L.TimeDistributed(L.Dropout(0.1), name="tdrop")(h)
    h = L.Lambda(lambda t: t * 2, name="double")(h)
    model = keras.Model(x, L.Dense(1, name="d")(L.Flatten(name="f")(h)))
    result, spec, _ = _import(tmp_path, model)
    assert result.exit_code == 1 and "4 layers cannot be read" in result.output
    for name in ("`noise` (GaussianNoise)", "`up` (UpSampling1D)", "`tdrop` (TimeDistributed of Dropout)",
                 "`double` (Lambda)"):
        assert name in result.output
    assert "rebuild the model without it" in result.output  # a fix phrased for the model, not a spec
    assert not spec.exists() and not (tmp_path / "practice.keras").exists()


def test_a_prelu_with_an_alpha_per_position_is_refused(tmp_path):
    x = keras.Input((8, 2))
    h = L.PReLU(name="p")(L.Conv1D(3, 2, name="c")(x))  # alpha (7, 3): one per position of the window
    model = keras.Model(x, L.Dense(1, name="d")(L.Flatten(name="f")(h)))
    result, spec, _ = _import(tmp_path, model)
    assert result.exit_code == 1 and "layer `p` (PReLU)" in result.output and "shared_axes=[1]" in result.output
    assert not spec.exists()


def test_several_inputs_import_into_an_inputs_spec(tmp_path):
    """A multivariate MCDCNN: one branch per variable, concatenated, with a global vector joined at the head."""
    a, b, g = keras.Input((24, 1), name="ecg"), keras.Input((24, 2), name="accel"), keras.Input((3,), name="subject")
    branches = []
    for x, tag in ((a, "a"), (b, "b")):
        h = L.Conv1D(4, 3, activation="relu", name=f"conv_{tag}")(x)
        branches.append(L.MaxPooling1D(2, name=f"pool_{tag}")(h))
    h = L.Flatten(name="flat")(L.Concatenate(name="joined")(branches))
    h = L.Dense(6, activation="relu", name="hidden")(h)
    out = L.Dense(2, name="out")(L.Concatenate(name="with_subject")([h, g]))
    model = keras.Model([a, b, g], out, name="mcdcnn")
    _randomize(model, 3)
    result, spec, practice = _import(tmp_path, model)
    assert result.exit_code == 0, result.output
    inputs = yaml.safe_load(spec.read_text())["inputs"]
    assert [(i["name"], i.get("channels"), i.get("global", False)) for i in inputs] == \
        [("ecg", 1, False), ("accel", 2, False), ("subject", 3, True)]
    error, _ = _per_step_agrees(model, practice)
    assert error < 1e-5


def _wavenet(dilations=(1, 2, 4, 8), channels=8):
    """A WaveNet as people write it in Keras: causal dilated gated blocks, residual and skip sums."""
    x = keras.Input((None, 1))
    h = L.Conv1D(channels, 2, padding="causal", name="pre")(x)
    skips = []
    for i, d in enumerate(dilations):
        f = L.Conv1D(channels, 2, dilation_rate=d, padding="causal", activation="tanh", name=f"filter{i}")(h)
        g = L.Conv1D(channels, 2, dilation_rate=d, padding="causal", activation="sigmoid", name=f"gate{i}")(h)
        z = L.Multiply(name=f"gated{i}")([f, g])
        skips.append(L.Conv1D(channels, 1, name=f"skip{i}")(z))
        h = L.Add(name=f"residual{i}")([h, L.Conv1D(channels, 1, name=f"res{i}")(z)])
    o = L.Activation("relu", name="relu")(L.Add(name="skips")(skips))
    return keras.Model(x, L.Conv1D(4, 1, activation="softmax", name="logits")(o), name="wavenet")


def test_a_causal_wavenet_imports_as_its_per_step_network(tmp_path):
    model = _wavenet()
    _randomize(model, 5)
    result, spec, practice = _import(tmp_path, model)
    assert result.exit_code == 0, result.output
    assert "practice-form model" in result.output and "receptive field 17" in result.output
    assert "padding" not in spec.read_text()  # causal padding is the practice form's, not the spec's
    x = np.random.default_rng(2).normal(size=(2, 60, 1)).astype("float32")
    assert relative_error(np.asarray(practice(x)), np.asarray(model(x))) < 1e-5  # at every step, warm-up too
    weights = {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}
    want = per_step_over_sequence(yaml.safe_load(spec.read_text()), weights, x, 17)
    assert relative_error(np.asarray(model(x))[:, 16:], want) < 1e-5


@pytest.mark.parametrize("change, message", [
    (lambda: L.Conv1D(4, 3, padding="same", name="bad"), "padding 'same' over more than one step"),
    (lambda: L.Conv1D(4, 2, strides=2, padding="causal", name="bad"), "strides 2 in a practice-form model"),
    (lambda: L.GlobalAveragePooling1D(name="bad"), "collapses the whole sequence"),
])
def test_a_practice_form_model_with_a_non_causal_layer_is_refused(tmp_path, change, message):
    x = keras.Input((None, 1))
    h = L.Conv1D(4, 2, padding="causal", name="c")(x)
    model = keras.Model(x, change()(h))
    result, spec, _ = _import(tmp_path, model)
    assert result.exit_code == 1 and "layer `bad`" in result.output and message in result.output, result.output
    assert not spec.exists()


@pytest.mark.parametrize("stem", ["tcn-skips-layernorm", "tcn-batchnorm-last"])
def test_keras_tcn_models_import_without_keras_tcn(tmp_path, stem):
    """Models saved by keras-tcn 3.5.7's own code (tests/make_tcn_fixtures.py), with the outputs keras-tcn
    computed: imported from the TCN layer's configuration and the weights file, with no keras-tcn here."""
    import importlib.util

    saved = np.load(os.path.join(TCN_FIXTURES, f"{stem}.npz"))
    result, spec, practice = _import(tmp_path, os.path.join(TCN_FIXTURES, f"{stem}.keras"))
    assert result.exit_code == 0, result.output
    if importlib.util.find_spec("tcn") is None:
        assert "not run against it: keras-tcn" in result.output
    got = np.asarray(practice(saved["x"]))
    want = saved["y"]
    if want.ndim == 2:  # return_sequences=False: the last step
        got = got[:, -1]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    dict(nb_filters=6, kernel_size=3, dilations=[1, 2, 4], nb_stacks=2, use_skip_connections=True,
         return_sequences=True, use_layer_norm=True),
    dict(nb_filters=[4, 6, 8], kernel_size=2, dilations=[1, 3, 5], use_skip_connections=False,
         return_sequences=False, use_batch_norm=True, dropout_rate=0.2, activation="tanh"),
])
def test_keras_tcn_built_here_imports_exactly(tmp_path, options):
    tcn = pytest.importorskip("tcn")  # keras-tcn: CI installs it without its dependencies (it asks for tensorflow-macos)
    x = keras.Input((None, 3))
    h = tcn.TCN(name="tcn", **options)(x)
    model = keras.Model(x, L.Dense(2, name="head")(h))
    _randomize(model, 7)
    result, spec, practice = _import(tmp_path, model)
    assert result.exit_code == 0, result.output
    assert "largest relative difference" in result.output
    xs = np.random.default_rng(4).normal(size=(2, 80, 3)).astype("float32")
    got, want = np.asarray(practice(xs)), np.asarray(model(xs))
    assert relative_error(got if want.ndim == 3 else got[:, -1], want) < 1e-5


def test_group_normalization_over_channels_imports_and_over_positions_is_refused(tmp_path):
    x = keras.Input((12, 2))
    h = L.Conv1D(8, 3, strides=3, activation="relu", name="c")(x)
    h = L.Dense(6, name="d")(L.Flatten(name="f")(h))
    model = keras.Model(x, L.Dense(2, name="out")(L.GroupNormalization(groups=3, name="gn")(h)), name="gn")
    _randomize(model, 9)
    result, spec, practice = _import(tmp_path, model)
    assert result.exit_code == 0, result.output
    assert "{type: GroupNormalization, name: gn, groups: 3}" in spec.read_text()
    error, xs = _per_step_agrees(model, practice)
    assert error < 1e-5
    weights = {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}
    want = per_step_over_sequence(yaml.safe_load(spec.read_text()), weights, xs[0], 12)
    assert relative_error(np.asarray(practice(xs[0]))[:, 11:], want) < 1e-5

    over_time = keras.Sequential([keras.Input((12, 2)), L.Conv1D(4, 3, name="c"), L.GroupNormalization(2, name="gn"),
                                  L.Flatten(name="f"), L.Dense(1, name="d")])
    result, spec, _ = _import(tmp_path / "positions" if (tmp_path / "positions").mkdir() is None else tmp_path,
                              over_time)
    assert result.exit_code == 1 and "E213" in result.output and "`gn`" in result.output
