"""Bring your own model: per-step Keras models built in code, trained a few steps, imported into specs,
compiled with from-step; the practice model then equals the original on the window ending at every step."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import SPECS, relative_error, spec_id

keras = pytest.importorskip("keras")
L = keras.layers


def _sequential():
    return keras.Sequential([
        keras.Input((24, 2)),
        L.Conv1D(6, 3, dilation_rate=2, activation="relu", name="dilated"),
        L.MaxPooling1D(2, name="max"),
        L.Conv1D(8, 2, strides=2, activation="tanh", name="strided"),
        L.AveragePooling1D(2, strides=1, name="avg"),
        L.Flatten(name="flat"),
        L.Dense(16, activation="gelu", name="hidden"),
        L.Dense(3, activation="softmax", name="out"),
    ], name="seq")


def _functional():
    x = keras.Input((16, 3), name="samples")
    a = L.Conv1D(4, 2, strides=2, name="main")(x)
    b = L.Conv1D(4, 2, strides=2, name="shortcut")(x)  # residual across a stride
    r = L.Add(name="residual")([a, b])
    f = L.Conv1D(4, 2, activation="tanh", name="filter")(r)
    g = L.Conv1D(4, 2, activation="sigmoid", name="gate")(r)
    gated = L.Multiply(name="gated")([f, g])
    p = L.MaxPooling1D(2, strides=1, name="pool")(r)
    c = L.Concatenate(name="joined")([gated, p])
    n = L.BatchNormalization(name="norm")(c)
    d = L.Dropout(0.3, name="drop")(n)
    dw = L.DepthwiseConv1D(3, depth_multiplier=2, name="depthwise")(d)
    sep = L.SeparableConv1D(5, 2, name="separable")(dw)
    out = L.Dense(2, name="out")(L.GlobalAveragePooling1D(name="gap")(sep))
    return keras.Model(x, out, name="fun")


def _more_kinds():
    return keras.Sequential([
        keras.Input((20, 4)),
        L.Rescaling(0.5, offset=-0.25, name="scale"),
        L.Conv1D(6, 3, groups=2, padding="valid", kernel_initializer="he_normal", name="grouped"),
        L.LayerNormalization(name="ln"),
        L.Activation("mish", name="act"),
        L.SpatialDropout1D(0.2, name="sdrop"),
        L.Conv1D(4, 1, padding="same", name="pointwise"),  # 'same' on one step pads nothing (N305)
        L.GlobalMaxPooling1D(name="gmp"),
        L.Dense(2, activation="log_sigmoid", name="out"),
    ], name="more")


@pytest.mark.parametrize("build", [_sequential, _functional, _more_kinds], ids=["sequential", "functional", "more"])
def test_an_imported_model_compiles_to_an_equal_practice_model(build, tmp_path):
    from convert.cli import main

    model = build()
    window, channels = model.input_shape[1], model.input_shape[2]
    rng = np.random.default_rng(0)
    model.compile(optimizer="adam", loss="mse")
    model.fit(rng.normal(size=(16, window, channels)), rng.normal(size=(16,) + model.output_shape[1:]), epochs=2,
              verbose=0)  # trained: batch-norm statistics and weights move away from their initial values
    model.save(tmp_path / "model.keras")
    runner = CliRunner()
    result = runner.invoke(main, ["import", str(tmp_path / "model.keras"), "-o", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 0, result.output
    assert f"window {window}" in result.output
    result = runner.invoke(main, ["from-step", str(tmp_path / "spec.yaml"), str(tmp_path / "model.keras"),
                                  "-o", str(tmp_path / "practice.keras")])
    assert result.exit_code == 0, result.output
    practice = keras.saving.load_model(str(tmp_path / "practice.keras"))
    x = rng.normal(size=(2, window + 20, channels)).astype(np.float32)
    got = np.asarray(practice(x))
    windows = np.stack([x[:, t - window + 1: t + 1] for t in range(window - 1, x.shape[1])], axis=1)
    want = np.asarray(model(windows.reshape(-1, window, channels))).reshape(2, -1, got.shape[-1])
    assert relative_error(got[:, window - 1:], want) < 1e-5


@pytest.mark.parametrize("path", [p for p in SPECS if spec_id(p) in ("residual", "densenet", "pooling", "shallow-fbcsp",
                                                                     "mixed-stride-dilation")], ids=spec_id)
def test_import_of_to_step_gives_back_the_same_compiled_source(path, tmp_path):
    from convert.cli import main

    runner = CliRunner()
    assert runner.invoke(main, ["compile", path, "-o", str(tmp_path / "a")]).exit_code == 0
    stem = spec_id(path)
    step = tmp_path / "step.keras"
    result = runner.invoke(main, ["to-step", path, str(tmp_path / "a" / f"{stem}.keras"), "-o", str(step)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["import", str(step), "-o", str(tmp_path / "again.yaml")])
    assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["compile", str(tmp_path / "again.yaml"), "-o", str(tmp_path / "b")]).exit_code == 0
    names = os.listdir(tmp_path / "b")
    (source,) = [n for n in names if n.endswith(".py")]
    assert (tmp_path / "b" / source).read_bytes() == (tmp_path / "a" / source).read_bytes()


def _saved(tmp_path, model) -> str:
    path = str(tmp_path / "model.keras")
    model.save(path)
    return path


def test_unsupported_layers_are_named_and_nothing_is_written(tmp_path):
    from convert.cli import main

    x = keras.Input((8, 1))
    model = keras.Model(x, L.LSTM(4, name="memory")(x))
    result = CliRunner().invoke(main, ["import", _saved(tmp_path, model), "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 1 and "layer `memory` (LSTM) has no causalc kind" in result.output
    assert "recurrent" in result.output and not (tmp_path / "s.yaml").exists()


def test_a_lambda_is_refused_without_running(tmp_path):
    from convert.cli import main

    marker = tmp_path / "ran"
    x = keras.Input((8, 1))
    model = keras.Model(x, L.Lambda(lambda t: t * 2, name="double")(x))
    path = _saved(tmp_path, model)
    result = CliRunner().invoke(main, ["import", path, "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 1 and "layer `double` (Lambda)" in result.output and "without being run" in result.output
    assert not marker.exists() and not (tmp_path / "s.yaml").exists()


def test_a_window_the_strides_do_not_consume_reads_as_keras_does(tmp_path):
    """Keras's strided layers leave the newest leftover positions unread (floor): the spec says so with a
    Cropping1D before each such layer (a delay in practice), and the practice model equals the model."""
    from convert.cli import main

    x = keras.Input((17, 1))
    h = L.Conv1D(2, 2, strides=2, name="c")(x)  # 17 - 2 = 15: the newest step unread
    h = L.MaxPooling1D(3, strides=2, name="p")(h)  # 8 - 3 = 5: the newest position unread
    model = keras.Model(x, L.Dense(1, name="d")(L.Flatten(name="f")(h)), name="m")
    rng = np.random.default_rng(2)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    out, practice = tmp_path / "s.yaml", tmp_path / "p.keras"
    result = CliRunner().invoke(main, ["import", _saved(tmp_path, model), "-o", str(out), "--practice", str(practice)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "{type: Cropping1D, name: c_floor, cropping: [0, 1]}" in text and "name: p_floor" in text
    assert "window: 17" in text
    seq = rng.normal(size=(1, 40, 1)).astype("float32")
    got = np.asarray(keras.saving.load_model(str(practice))(seq))[0, 16:]
    want = np.asarray(model(np.stack([seq[0, t - 16:t + 1] for t in range(16, 40)])))
    assert relative_error(got, want) < 1e-5


def test_merges_of_different_grids_are_refused(tmp_path):
    """Keras adds two width-4 tensors position by position; a spec merge would first align their grids."""
    from convert.cli import main

    x = keras.Input((8, 1))
    a = L.Conv1D(2, 2, strides=2, name="a")(x)  # grid 2
    b = L.Conv1D(2, 5, name="b")(x)  # grid 1, width 4
    model = keras.Model(x, L.Flatten(name="f")(L.Add(name="sum")([a, b])))
    model = keras.Model(x, L.Dense(1, name="d")(model.output))
    result = CliRunner().invoke(main, ["import", _saved(tmp_path, model), "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 1 and "layer `sum` merges tensors of different grids" in result.output


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04broken"])
def test_unreadable_model_files(tmp_path, content):
    from convert.cli import main

    (tmp_path / "m.keras").write_bytes(content)
    result = CliRunner().invoke(main, ["import", str(tmp_path / "m.keras"), "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 1 and "cannot be read as a Keras model" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "s.yaml").exists()


def test_readme_bring_your_own_model(tmp_path, monkeypatch):
    from test_keras_outputs import _readme_block

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_readme_block("## Bring your own model", "docs/import.md"), "docs/import.md", "exec"), namespace)
    assert namespace["error"] < 1e-5


def test_h5_models_import(tmp_path):
    from convert.cli import main

    model = keras.Sequential([keras.Input((4, 1)), L.Conv1D(2, 2, strides=2, name="c"), L.Flatten(name="f"),
                              L.Dense(1, name="d")], name="small")
    path = str(tmp_path / "model.h5")
    model.save(path)
    result = CliRunner().invoke(main, ["import", path, "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 0, result.output
    assert "{type: Conv1D, name: c, filters: 2, kernel_size: 2, strides: 2}" in (tmp_path / "s.yaml").read_text()


@pytest.mark.parametrize("cls, axis", [(cls, axis) for cls in ("BatchNormalization", "LayerNormalization")
                                       for axis in (-1, 2, 1, -2)] + [("LayerNormalization", [2]),
                                                                      ("LayerNormalization", [1])])
def test_a_normalisation_axis_is_channels_or_refused(cls, axis, tmp_path):
    """Over a (batch, W, C) input, axis -1 and 2 are the channels (imported, and equal to the model); any
    other axis normalises over time or the batch, which a spec cannot say: refused, naming the layer."""
    from convert.cli import main

    x = keras.Input((6, 3))
    h = L.Conv1D(4, 2, name="c")(x)
    n = getattr(L, cls)(axis=axis, name="norm")(h)
    model = keras.Model(x, L.Dense(2, name="out")(L.Flatten(name="flat")(n)))
    rng = np.random.default_rng(1)
    norm = model.get_layer("norm")
    shapes = [w.shape for w in norm.get_weights()]
    if cls == "BatchNormalization" and shapes[0] == (4,):  # moving statistics away from 0 and 1
        norm.set_weights([rng.uniform(0.5, 1.5, s).astype("float32") for s in shapes])
    model.save(tmp_path / "m.keras")
    runner = CliRunner()
    result = runner.invoke(main, ["import", str(tmp_path / "m.keras"), "-o", str(tmp_path / "s.yaml")])
    if axis in (-1, 2, [2]):
        assert result.exit_code == 0, result.output
        result = runner.invoke(main, ["from-step", str(tmp_path / "s.yaml"), str(tmp_path / "m.keras"),
                                      "-o", str(tmp_path / "p.keras")])
        assert result.exit_code == 0, result.output
        practice = keras.saving.load_model(str(tmp_path / "p.keras"))
        seq = rng.normal(size=(1, 12, 3)).astype("float32")
        got = np.asarray(practice(seq))[0, 5:]
        want = np.asarray(model(np.stack([seq[0, t - 5:t + 1] for t in range(5, 12)])))
        assert relative_error(got, want) < 1e-5
    else:
        assert result.exit_code == 1 and "`norm`" in result.output and "axis" in result.output
        assert not (tmp_path / "s.yaml").exists()
