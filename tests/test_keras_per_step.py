"""The per-step form: to-step matches the evaluator on every window, from-step(to-step(m)) is m bit for
bit, and exact warm-up equals the per-step model on zero-padded windows at every step."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import compiled, relative_error, weights_of
from evaluator import evaluate, inputs_of, load, per_step_over_sequence, random_inputs, windows_ending  # noqa: F401

pytest.importorskip("keras")


def assert_per_step_contract(spec_path, spec: dict, practice, seed: int = 0, tolerance: float = 1e-5) -> None:
    """Shared by the bundled and the generated specs."""
    from convert import api

    analysis = api.load(spec_path)
    window = analysis.window

    step = api.to_step(practice, analysis)
    assert_per_step_shapes(step, analysis)
    x = random_inputs(spec, window + 5, seed=seed)
    ends = [window - 1, window + 1, window + 4]
    windows = windows_ending(spec, x, ends, window)
    ordered = [windows[node["name"]] for node in inputs_of(spec)]
    got = np.asarray(step(ordered if len(ordered) > 1 else ordered[0]))
    assert got.shape == (2 * len(ends), analysis.tensors[analysis.spec.output].channels)
    assert relative_error(got, evaluate(spec, weights_of(practice), windows)) < tolerance

    again = api.from_step(step, analysis)
    for a, b in zip(practice.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)  # bit for bit

    exact = api.from_step(step, analysis, warmup="exact")
    got = np.asarray(exact(x))
    length = got.shape[1]
    assert got.shape[0] == 2 and length == window + 5
    # every step for small windows; for large ones the first and last 8 and 24 between (warm-up included)
    steps = np.arange(length)
    if len(steps) > 64:
        steps = np.unique(np.concatenate([steps[:8], steps[-8:], np.linspace(0, len(steps) - 1, 24).astype(int)]))
    windows = windows_ending(spec, x, list(steps), window, pad=window - 1)
    want = evaluate(spec, weights_of(practice), windows).reshape(2, len(steps), -1)
    assert relative_error(got[:, steps], want) < tolerance


def assert_per_step_shapes(step, analysis) -> None:
    """Every per-step Keras layer named after a spec layer holds that layer's per-step tensor: (width,
    channels), or (channels,) once flat (after a Flatten, or a global pool without keepdims). A layer that
    strides and dilates is subsampled by the layer after it, which then holds the tensor."""
    names = {layer.name for layer in step.layers}
    for plan in analysis.plans:
        name = plan.layer.name
        if not plan.used or name not in names:
            continue
        holder = f"{name}_strides" if f"{name}_strides" in names else name
        tensor = analysis.tensors[name]
        want = (tensor.channels,) if tensor.flat else (tensor.width, tensor.channels)
        assert tuple(step.get_layer(holder).output.shape[1:]) == want, name


def test_per_step_and_exact_warmup(bundled_spec):
    _, practice = compiled(bundled_spec)
    assert_per_step_contract(bundled_spec, load(bundled_spec), practice)


def test_causal_warmup_differs_from_zero_padded_windows():
    """The documented difference: with causal warm-up, early steps are not the per-step model on zeros."""
    import os

    from conftest import ROOT

    path = os.path.join(ROOT, "specs", "strided-stack.yaml")
    _, practice = compiled(path)
    spec = load(path)
    x = np.random.default_rng(5).normal(size=(1, 20, 1)).astype(np.float32)
    padded = np.concatenate([np.zeros((1, 15, 1), np.float32), x], axis=1)
    zero_padded = per_step_over_sequence(spec, weights_of(practice), padded, 16)
    causal = np.asarray(practice(x))
    assert relative_error(causal[:, 15:], zero_padded[:, 15:]) < 1e-5  # equal once a full window is there
    assert relative_error(causal[:, :15], zero_padded[:, :15]) > 1e-3  # but not during warm-up


def test_readme_warmup_example(tmp_path):
    from convert import api

    path = tmp_path / "two.yaml"
    path.write_text("input: {channels: 1, window: 4}\nlayers:\n"
                    "  - {type: Conv1D, name: c1, filters: 1, kernel_size: 2, strides: 2}\n"
                    "  - {type: Conv1D, name: out, filters: 1, kernel_size: 2}\n")
    x = np.array([[[5.0], [6.0], [7.0], [8.0]]], np.float32)
    outputs = {}
    for warmup in ("exact", "causal"):
        model = api.practice_model(path, warmup)
        model.get_layer("c1").set_weights([np.ones((2, 1, 1), np.float32), np.ones(1, np.float32)])
        model.get_layer("out").set_weights([np.ones((2, 1, 1), np.float32), np.zeros(1, np.float32)])
        outputs[warmup] = np.asarray(model(x))[0, :, 0].tolist()
    assert outputs == {"exact": [7, 13, 20, 28], "causal": [6, 12, 20, 28]}


def test_readme_worked_example(monkeypatch, capsys):
    from conftest import ROOT
    from test_keras_outputs import _readme_block

    monkeypatch.chdir(ROOT)
    exec(compile(_readme_block("## A worked example", "docs/python-api.md"), "docs/python-api.md", "exec"), {})
    assert "next sample" in capsys.readouterr().out


def test_exact_warmup_when_the_window_exceeds_the_receptive_field(tmp_path):
    """Window 12, receptive field 11: the exact model's output is cropped by one step, and it must drop
    the oldest step (the warm-up), so that each step is still the per-step model on its padded window."""
    from conftest import randomize
    from convert import api
    from test_analysis import W_ABOVE_RF

    path = tmp_path / "above.yaml"
    path.write_text(W_ABOVE_RF)
    import yaml

    spec = yaml.safe_load(W_ABOVE_RF)
    practice = api.practice_model(path)
    randomize(practice, 2)
    assert api.load(path).receptive_field == 11
    assert_per_step_contract(str(path), spec, practice, seed=2)
