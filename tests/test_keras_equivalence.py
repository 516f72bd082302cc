"""The contract on the bundled specs: practice(x)[t] == per-step(x[t-W+1 : t+1]) for every t >= W-1."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import compiled, relative_error, weights_of
from evaluator import changed, load, per_step_over_sequence, random_inputs, signal_index, window_of

pytest.importorskip("keras")
TOLERANCE = 1e-5


def _inputs(spec: dict, window: int, extra: int, seed: int = 1):
    return random_inputs(spec, window + extra, seed=seed)


def _steps(spec: dict, x) -> int:
    return (x[signal_index(spec)] if isinstance(x, list) else x).shape[1]


def test_practice_equals_per_step_on_every_window(bundled_spec):
    practice, model = compiled(bundled_spec)
    spec = load(bundled_spec)
    window = window_of(spec)
    assert practice.analysis.window == window  # the compiler's window is the brute-force one
    x = _inputs(spec, window, extra=40)
    got = np.asarray(model(x))
    want = per_step_over_sequence(spec, weights_of(model), x, window)
    assert got.shape == (2, _steps(spec, x), want.shape[-1])  # one prediction per input step
    assert relative_error(got[:, window - 1:], want) < TOLERANCE


def test_input_exactly_one_window_long(bundled_spec):
    practice, model = compiled(bundled_spec)
    spec = load(bundled_spec)
    window = practice.analysis.window
    x = _inputs(spec, window, extra=0, seed=2)
    got = np.asarray(model(x))
    want = per_step_over_sequence(spec, weights_of(model), x, window)
    assert got.shape[1] == window
    assert relative_error(got[:, -1:], want) < TOLERANCE


def test_outputs_never_depend_on_later_steps(bundled_spec):
    _, model = compiled(bundled_spec)
    spec = load(bundled_spec)
    window = window_of(spec)
    x = _inputs(spec, window, extra=16, seed=3)
    before = np.asarray(model(x))
    for t0 in (0, window // 2, _steps(spec, x) - 1):
        after = np.asarray(model(changed(spec, x, t0)))
        np.testing.assert_array_equal(after[:, :t0], before[:, :t0])
        assert not np.array_equal(after[:, t0:], before[:, t0:])


def test_receptive_field_bounds_the_dependence(bundled_spec):
    """An output step sees exactly the receptive field: a change RF steps back is felt, one step further is not."""
    practice, model = compiled(bundled_spec)
    rf = practice.analysis.receptive_field
    spec = load(bundled_spec)
    x = _inputs(spec, rf, extra=rf + 8, seed=4)
    t = _steps(spec, x) - 1
    base = np.asarray(model(x))[:, t]
    np.testing.assert_allclose(np.asarray(model(changed(spec, x, t - rf)))[:, t], base, rtol=0, atol=0)
    felt = []
    for change in (10.0, -10.0, 3.0):
        felt.append(not np.array_equal(np.asarray(model(changed(spec, x, t - rf + 1, change)))[:, t], base))
    assert any(felt), "the oldest step of the receptive field does not reach the output"
