"""The contract on specs nobody wrote by hand: hypothesis generates them, the NumPy evaluator judges."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import randomize, relative_error, weights_of
from evaluator import fits, per_step_over_sequence, random_inputs, with_window
from strategies import spec_dicts
from test_keras_per_step import assert_per_step_contract

pytest.importorskip("keras")

EXAMPLES = int(os.environ.get("CAUSALC_EXAMPLES", "30"))
NO_WINDOW_SEARCH = 1025  # windows the evaluator tries on a spec the compiler rejects as E207


def _check(spec: dict, tmp_path, choice: int, seed: int, start: int = 1) -> None:
    from convert.analysis.shapes import _structure, fitting_windows, valid_windows
    from convert.backends.keras_model import build_model
    from convert.lowering import lower
    from convert.pipeline import check

    path = tmp_path / "generated.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    checked = check(str(path))
    if not checked.ok:  # branches whose strides admit no common window: the oracle must find none either
        assert {d.code for d in checked.diagnostics if d.is_error} == {"E207"}, checked.diagnostics
        assert not any(fits(spec, w) for w in range(1, NO_WINDOW_SEARCH))
        return
    windows = valid_windows(checked.analysis.spec, _structure(checked.analysis.spec, []), limit=6, start=start)[0] \
        or fitting_windows(checked.analysis.spec, limit=6)
    window = windows[choice % len(windows)]
    if window != checked.analysis.window:  # also exercise larger windows that fit
        spec = with_window(spec, window)
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        checked = check(str(path))
        assert checked.ok, checked.diagnostics
    model = build_model(lower(checked.analysis))
    randomize(model, seed)
    x = random_inputs(spec, window + 9, seed=seed)
    got = np.asarray(model(x))
    want = per_step_over_sequence(spec, weights_of(model), x, window)
    assert got.shape[:2] == (2, window + 9)
    assert relative_error(got[:, window - 1:], want) < _tolerance(checked.analysis)
    assert_per_step_contract(str(path), spec, model, seed, _tolerance(checked.analysis))


def _tolerance(analysis) -> float:
    """1e-5, or 1e-4 where a LayerNormalization normalizes one channel: its exact output is beta, and Keras's
    mean and variance of one value carry float32 rounding divided by sqrt(epsilon) (1e-5 relative seen)."""
    one = any(plan.layer.type == "LayerNormalization" and analysis.tensors[plan.layer.inputs[0]].channels == 1
              for plan in analysis.plans if plan.used)
    return 1e-4 if one else 1e-5


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(spec=spec_dicts(), choice=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_generated_specs_match_the_evaluator(spec, choice, seed, tmp_path):
    _check(spec, tmp_path, choice, seed)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(spec=spec_dicts(conditioned=True), choice=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_generated_conditioned_specs_match_the_evaluator(spec, choice, seed, tmp_path):
    """Several inputs of every kind (hop frames, global vectors and ids, categorical sequences and signals,
    one-hot or embedded) wherever the graph reads them."""
    _check(spec, tmp_path, choice, seed)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=spec_dicts(max_layers=12, conditioned=True), choice=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_many_generated_conditioned_specs_match_the_evaluator(spec, choice, seed, tmp_path):
    _check(spec, tmp_path, choice, seed)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=spec_dicts(max_layers=12), choice=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_many_generated_specs_match_the_evaluator(spec, choice, seed, tmp_path):
    _check(spec, tmp_path, choice, seed)


@settings(max_examples=2 * EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(spec=spec_dicts(same=True), choice=st.integers(0, 5), seed=st.integers(0, 2**16), start=st.integers(1, 40),
       edges=st.booleans())
def test_generated_same_padding_specs_match_the_evaluator(spec, choice, seed, start, edges, tmp_path):
    """`same_padding: exact`: 'same' and valid layers, ZeroPadding1D, strides, pools, merges and heads, at
    windows where edge and interior positions mix; half the time the edge construction is forced where
    causalc would choose per-window evaluation (small windows), so both forms meet every shape."""
    _check_same(spec, tmp_path, choice, seed, start, edges)


def _check_same(spec, tmp_path, choice, seed, start, edges):
    from convert.analysis import same as lower_same

    saved = lower_same.PER_WINDOW_BELOW
    lower_same.PER_WINDOW_BELOW = 0.0 if edges else saved
    try:
        _check(spec, tmp_path, choice, seed, start)
    finally:
        lower_same.PER_WINDOW_BELOW = saved


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=spec_dicts(max_layers=12, same=True), choice=st.integers(0, 5), seed=st.integers(0, 2**16),
       start=st.integers(1, 80), edges=st.booleans())
def test_many_generated_same_padding_specs_match_the_evaluator(spec, choice, seed, start, edges, tmp_path):
    _check_same(spec, tmp_path, choice, seed, start, edges)


def test_every_activation_compiles_and_matches(tmp_path):
    """Each activation the spec format accepts, exponential included, in one chain checked at every step."""
    from convert.kinds.fields import ACTIVATIONS

    layers = [{"name": f"a{i}", "type": "Conv1D", "filters": 3, "kernel_size": 2, "activation": name}
              for i, name in enumerate(ACTIVATIONS)]
    spec = {"name": "activations", "input": {"channels": 2}, "layers": layers}
    _check(spec, tmp_path, choice=0, seed=3)


def test_a_crop_no_window_fits_is_e207_for_the_oracle_too(tmp_path):
    """An unused branch whose crop leaves no position at the only window the output allows: the compiler
    says E207 for every layer, and the evaluator must find no window either (a crop keeps one position)."""
    spec = {"name": "generated", "input": {"channels": 1}, "layers": [
        {"type": "Cropping1D", "inputs": "input", "cropping": [0, 1], "name": "l1"},
        {"type": "BatchNormalization", "inputs": "l1", "name": "l2"},
        {"type": "Conv1D", "inputs": "input", "kernel_size": 1, "filters": 1, "name": "l3"}]}
    _check(spec, tmp_path, 0, 0)
