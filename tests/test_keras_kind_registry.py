"""Adding a kind is one module plus its oracle rule: a `Scale` kind (a learnt per-channel factor) defined in
this file alone is registered, then linted, explained, compiled, mapped both ways, streamed and rebuilt
from generated source, and every form is checked against the evaluator extended here."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from conftest import randomize, relative_error, weights_of
from convert import kinds
from convert.kinds.base import Kind, Practice
from evaluator import POSITIONWISE, fits, per_step_over_sequence

keras = pytest.importorskip("keras")

SPEC = """\
name: scaled
input: {channels: 2, window: 8}
layers:
  - {type: Conv1D, name: c1, filters: 3, kernel_size: 2, strides: 2, activation: tanh}
  - {type: Scale, name: s1}
  - {type: Conv1D, name: c2, filters: 3, kernel_size: 2, strides: 2}
  - {type: Add, name: sum, inputs: [s1, c2]}
  - {type: Scale, name: s2}
  - {type: Flatten, name: flat}
  - {type: Dense, name: out, units: 2}
"""


@keras.saving.register_keras_serializable(package="causalc_tests")
class ChannelScale(keras.layers.Layer):
    """y = x * scale, one learnt factor per channel."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale


class Scale(Kind):
    type = "Scale"
    weighted = True

    def practice(self, layer, ins, out):
        return Practice(in_channels=ins[0].channels, params=ins[0].channels, macs=ins[0].channels,
                        step_macs=ins[0].channels * out.width)

    def lower(self, plan, ctx):
        return ctx.add(plan.layer.name, "ChannelScale", (), ctx.inputs(plan), plan, module=__name__)

    def per_step(self, plan, ctx):
        return ctx.add(plan.layer.name, "ChannelScale", (), (ctx.tensor(plan.layer.inputs[0]),), plan, module=__name__)

    def weights(self, plan):
        shape = {"scale": [plan.practice.in_channels]}
        return {"practice": shape, "per_step": shape, "transform": "identity"}


@pytest.fixture
def scale_kind(monkeypatch, tmp_path):
    monkeypatch.setitem(kinds.KINDS, "Scale", Scale())
    monkeypatch.setitem(POSITIONWISE, "Scale", lambda layer, v, w: v * w[layer["name"]][0].astype(np.float64))
    path = tmp_path / "scaled.yaml"
    path.write_text(SPEC)
    return path


def test_unregistered_kind_is_an_error_at_its_type(tmp_path):
    from convert.pipeline import check

    path = tmp_path / "scaled.yaml"
    path.write_text(SPEC)
    checked = check(str(path))
    assert not checked.ok
    found = [(d.code, d.span.line, d.span.column) for d in checked.diagnostics]
    assert found == [("E113", 5, 12), ("E113", 8, 12)]  # both Scale layers, at their `type:` values


def test_lookup_of_an_unregistered_kind_is_loud():
    with pytest.raises(kinds.UnknownKind, match="'Scale'"):
        kinds.kind_of("Scale")


def test_a_kind_defined_in_a_test_compiles_maps_and_streams(scale_kind, tmp_path):
    import yaml

    from convert import api
    from convert.pipeline import compile_spec
    from convert.views.explain import explain_data
    from convert.stream import StreamingModel

    analysis = api.load(scale_kind)
    rows = {row["name"]: row for row in explain_data(analysis)["layers"]}
    assert rows["s1"]["practice"] == "Scale" and rows["s1"]["params"] == 3 and rows["s2"]["grid"] == 4
    spec = yaml.safe_load(SPEC)
    assert analysis.window == 8 and fits(spec, 8) and not fits(spec, 7) and analysis.receptive_field == 8

    written = compile_spec(analysis, str(tmp_path / "build"))
    entries = {e["spec_layer"]: e for e in json.loads(open(written[1]).read())["layers"]}
    assert entries["s1"]["practice"] == {"name": "s1", "class": "ChannelScale", "weights": {"scale": [3]}}
    assert entries["s1"]["transform"] == "identity" and list(entries) == ["c1", "s1", "c2", "s2", "out"]

    practice = keras.saving.load_model(written[0])  # safe mode: the test's layer is registered
    randomize(practice, seed=5)
    x = np.random.default_rng(1).normal(size=(2, 30, 2)).astype(np.float32)
    want = per_step_over_sequence(spec, weights_of(practice), x, analysis.window)
    assert relative_error(np.asarray(practice(x))[:, analysis.window - 1:], want) < 1e-5

    step = api.to_step(practice, analysis)
    windows = x[:, -analysis.window:]
    assert relative_error(np.asarray(step(windows)), want[:, -1]) < 1e-5
    for a, b in zip(practice.get_weights(), api.from_step(step, analysis).get_weights()):
        np.testing.assert_array_equal(a, b)

    stream = StreamingModel(practice, analysis)
    stream.reset(2)
    assert relative_error(stream.run(x), np.asarray(practice(x), np.float64)) < 1e-5

    module_spec = importlib.util.spec_from_file_location("generated_scaled", written[2])
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    rebuilt = module.build_practice_model()
    rebuilt.set_weights(practice.get_weights())
    np.testing.assert_array_equal(np.asarray(rebuilt(x)), np.asarray(practice(x)))
    assert f"from {__name__} import ChannelScale" in open(written[2]).read()


def test_a_kind_that_hides_its_weights_is_caught(scale_kind, monkeypatch):
    """A kind whose layer holds weights but declares none must not let to-step drop them silently."""
    from convert import api

    class Forgetful(Scale):
        weighted = False

        def weights(self, plan):
            return None

    monkeypatch.setitem(kinds.KINDS, "Scale", Forgetful())
    practice = api.practice_model(scale_kind)
    with pytest.raises(api.WeightMismatch, match="`s1`, `s2` hold weights that the spec's weight map does not describe"):
        api.to_step(practice, scale_kind)
