"""Time arithmetic on the article's constructions and the bundled specs. No TensorFlow."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings

from conftest import SPECS, spec_id
from convert.pipeline import check
from evaluator import load, reached_positions, window_of
from strategies import spec_dicts_of_every_family


def analyse_text(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    checked = check(str(path))
    assert checked.ok, checked.diagnostics
    return checked.analysis


def column(analysis, key: str) -> list:
    return [getattr(step, key) for step in analysis.plans]


def test_strides_become_dilations_of_all_later_layers(tmp_path):
    a = analyse_text(tmp_path, """
input: {channels: 1}
layers:
  - {type: Conv1D, name: c1, filters: 1, kernel_size: 2, strides: 2}
  - {type: Conv1D, name: c2, filters: 1, kernel_size: 2, strides: 2}
  - {type: Conv1D, name: c3, filters: 1, kernel_size: 2, strides: 2}
  - {type: Conv1D, name: out, filters: 1, kernel_size: 2}
""")
    assert a.window == 16 and a.window_inferred
    assert column(a, "dilation") == [1, 2, 4, 8]
    assert column(a, "left_pad") == [1, 2, 4, 8]
    assert [s.out.width for s in a.plans] == [8, 4, 2, 1]
    assert [s.out.grid for s in a.plans] == [2, 4, 8, 8]
    assert a.receptive_field == 16


def test_stride_one_before_the_output_keeps_the_dilation(tmp_path):
    a = analyse_text(tmp_path, """
input: {channels: 1}
layers:
  - {type: Conv1D, filters: 1, kernel_size: 2, strides: 2}
  - {type: Conv1D, filters: 1, kernel_size: 2, strides: 2}
  - {type: Conv1D, filters: 1, kernel_size: 2}
  - {type: Conv1D, filters: 1, kernel_size: 2}
""")
    assert column(a, "dilation") == [1, 2, 4, 4]


def test_flatten_dense_head_is_a_dilated_convolution(tmp_path):
    a = analyse_text(tmp_path, """
input: {channels: 1, window: 22}
layers:
  - {type: Conv1D, filters: 32, kernel_size: 3}
  - {type: Conv1D, filters: 32, kernel_size: 2, strides: 2}
  - {type: Flatten}
  - {type: Dense, units: 500}
  - {type: Dense, units: 10}
""")
    flatten, fc, out = a.plans[2:]
    assert (flatten.out.width, flatten.out.channels) == (1, 320)
    assert (fc.kernel, fc.dilation, fc.left_pad) == (10, 2, 18)
    assert fc.practice.params == 10 * 32 * 500 + 500 and fc.practice.macs == 10 * 32 * 500
    assert (out.kernel, out.dilation) == (1, 1)
    assert a.receptive_field == 22


def test_pooling_is_dilated_by_its_grid(tmp_path):
    a = analyse_text(tmp_path, """
input: {channels: 1}
layers:
  - {type: Conv1D, filters: 1, kernel_size: 2, strides: 2}
  - {type: MaxPool1D, pool_size: 2}
  - {type: Conv1D, filters: 1, kernel_size: 2}
""")
    conv, pool, out = a.plans
    assert (pool.kernel, pool.dilation, pool.out.grid) == (2, 2, 4)
    assert out.dilation == 4 and a.window == 8


def test_mixed_stride_and_dilation(tmp_path):
    a = analyse_text(tmp_path, """
input: {channels: 1}
layers:
  - {type: Conv1D, filters: 1, kernel_size: 3, strides: 2, dilation_rate: 2}
  - {type: Conv1D, filters: 1, kernel_size: 2, dilation_rate: 3}
""")
    first, second = a.plans
    assert (first.dilation, second.dilation) == (2, 6)
    assert a.window == 5 + 2 * 3 and a.receptive_field == 1 + 4 + 6


def test_merge_crop_keeps_receptive_field_when_it_drops_the_shorter_branch(tmp_path):
    a = analyse_text(tmp_path, """
input: {channels: 1, window: 6}
layers:
  - {type: Conv1D, name: a, filters: 1, kernel_size: 3}
  - {type: Conv1D, name: b, inputs: input, filters: 1, kernel_size: 1}
  - {type: Add, inputs: [a, b]}
  - {type: Conv1D, filters: 1, kernel_size: 2, strides: 2}
  - {type: Flatten}
  - {type: Dense, units: 1}
""")
    assert a.window == 6 and a.receptive_field == 6  # b's oldest steps are cropped, but a still sees them
    assert a.plans[2].out.width == 4  # b's 6 positions cropped to a's 4


W_ABOVE_RF = """
input: {channels: 1, window: 12}
layers:
  - {type: Conv1D, name: a, filters: 1, kernel_size: 3}
  - {type: MaxPool1D, name: b, inputs: input}
  - {type: Concatenate, name: both, inputs: [b, a]}
  - {type: Flatten, name: flat}
  - {type: Dense, name: out, units: 1}
"""


def test_merge_crop_makes_receptive_field_smaller_than_window(tmp_path):
    a = analyse_text(tmp_path, W_ABOVE_RF)
    # a (width 10, grid 1) kept every 2nd position from the newest: 5; b (width 6, grid 2) cropped to 5, so
    # b's oldest pool (steps 0 and 1) and with it step 0 never reach the output
    assert a.plan("both").out.width == 5 and a.plan("both").out.grid == 2
    assert a.window == 12 and a.receptive_field == 11


def test_residual_merge_brings_input_to_coarser_grid(tmp_path):
    a = analyse_text(tmp_path, """
input: {channels: 2}
layers:
  - {type: Conv1D, name: h, filters: 2, kernel_size: 2, strides: 2}
  - {type: Add, name: r, inputs: [input, h]}
  - {type: Conv1D, filters: 1, kernel_size: 2, strides: 2}
""")
    assert a.window == 4
    assert (a.plan("r").out.width, a.plan("r").out.grid) == (2, 2)


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_window_matches_brute_force(path, tmp_path):
    """With the window removed, the compiler infers the evaluator's brute-force smallest window; a stated
    window is one the evaluator finds fitting and one the compiler accepts."""
    import yaml

    from evaluator import fits, inputs_of, with_window

    spec = load(path)
    stated = next((node["window"] for node in inputs_of(spec) if "window" in node), None)
    spec = with_window(spec, None)
    unstated = tmp_path / "unstated.yaml"
    unstated.write_text(yaml.safe_dump(spec, sort_keys=False))
    inferred = check(str(unstated))
    assert inferred.ok and inferred.analysis.window_inferred
    assert inferred.analysis.window == window_of(spec)
    result = check(path)
    assert result.ok and result.diagnostics == []
    if stated is not None:
        assert result.analysis.window == stated and fits(spec, stated)
    assert result.analysis.receptive_field <= result.analysis.window


def test_wavenet_numbers():
    a = check([p for p in SPECS if p.endswith("wavenet.yaml")][0]).analysis
    assert a.window == 1024 and a.receptive_field == 1024
    filters = [a.plan(f"filter{i}").dilation for i in range(1, 11)]
    assert filters == [2**i for i in range(10)]
    assert a.plan("logits").out.channels == 256


def test_ten_thousand_layer_analysis(tmp_path):
    layers = "".join("  - {type: Conv1D, filters: 1, kernel_size: 2}\n" for _ in range(10_000))
    a = analyse_text(tmp_path, "input: {channels: 1}\nlayers:\n" + layers)
    assert a.window == 10_001 and a.receptive_field == 10_001


def test_analysis_time_grows_linearly_with_layers(tmp_path):
    """Four times the layers must cost about four times the time (quadratic would be sixteen); the best
    of three runs each, with a bound that leaves room for a noisy machine."""
    import time

    from convert.bench.families import chain_spec

    def seconds(layers: int) -> float:
        path = tmp_path / f"chain{layers}.yaml"
        path.write_text(chain_spec(layers))
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            assert check(str(path)).ok
            best = min(best, time.perf_counter() - start)
        return best

    assert seconds(4_000) / seconds(1_000) < 9


def test_w302_judges_skipped_positions_on_the_whole_graph(tmp_path):
    """A 1x1 stride-2 shortcut skips positions its sibling branch reads: no warning. Alone, it warns."""
    from convert.pipeline import check

    shortcut = """
input: {channels: 2}
layers:
  - {type: Conv1D, name: main, filters: 2, kernel_size: 3, strides: 2}
  - {type: Conv1D, name: shortcut, inputs: input, filters: 2, kernel_size: 1, strides: 2}
  - {type: Add, name: sum, inputs: [main, shortcut]}
  - {type: Conv1D, name: out, filters: 1, kernel_size: 2}
"""
    path = tmp_path / "shortcut.yaml"
    path.write_text(shortcut)
    assert check(str(path)).diagnostics == []
    path.write_text(shortcut.replace("kernel_size: 3, strides: 2}", "kernel_size: 1, strides: 2}"))
    assert [d.code for d in check(str(path)).diagnostics] == ["W302", "W302"]


def test_an_output_position_is_interior_only_when_its_taps_read_v_at_the_layers_delays():
    """The edge plan's rule, on a layout no bundled spec makes: taps that all read the shared sequence V,
    but at delays a dilated kernel does not read together, make an edge position, not an interior one."""
    from convert.ir.edges import B, V, Layout, window_plan
    from convert.kinds.base import Geometry

    layout = Layout(((V, 4), (V, 1), (V, 0)))  # oldest first: delays 4, 1, 0
    plan = window_plan(layout, Geometry(2, 1), kernel=2, in_grid=1)  # a kernel of 2 reads t-1 and t
    assert plan.layout.sources == ((B, 1), (V, 0))  # taps at 4, 1: an edge row; taps at 1, 0: V at delay 0
    assert plan.delays == (4, 1) and plan.rows == ((0, 1),)  # the row reads V at those two delays


def _reached_agrees_with_the_evaluator(spec: dict, analysis) -> None:
    want = reached_positions(spec, analysis.window)
    for name, mask in analysis.reached.items():
        assert {q for q, seen in enumerate(mask) if seen} == want.get(name, set()), name


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_the_positions_the_output_depends_on_are_the_evaluators(path):
    """The reached-positions trace (exact 'same' receptive fields, W302), marked a run of outputs at a time,
    against the evaluator's output-by-output trace."""
    _reached_agrees_with_the_evaluator(load(path), check(path).analysis)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=spec_dicts_of_every_family())
def test_the_positions_the_output_depends_on_are_the_evaluators_on_drawn_specs(tmp_path_factory, spec):
    path = tmp_path_factory.mktemp("reached") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    checked = check(str(path))
    assume(checked.ok)
    _reached_agrees_with_the_evaluator(spec, checked.analysis)
