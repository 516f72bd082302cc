"""Lowering: the analysed per-step network becomes the practice graph (stride 1, causal, dilated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convert.analysis import Analysis, Step

POOL_TYPES = {"MaxPooling1D": "max", "AveragePooling1D": "avg"}


@dataclass(frozen=True)
class PracticeLayer:
    """One layer of the practice model: its Keras class and constructor arguments, in emission order."""

    name: str
    cls: str
    config: tuple[tuple[str, Any], ...]
    inputs: tuple[str, ...]
    step: Step  # the spec layer it computes

    def arg(self, key: str, default: Any = None) -> Any:
        return dict(self.config).get(key, default)


@dataclass(frozen=True)
class Practice:
    analysis: Analysis
    layers: tuple[PracticeLayer, ...]
    output: str


def _conv(step: Step, inputs: tuple[str, ...]) -> PracticeLayer:
    layer = step.layer
    config = (("filters", layer.filters), ("kernel_size", step.kernel), ("dilation_rate", step.dilation),
              ("padding", "causal"), ("activation", layer.activation), ("use_bias", layer.use_bias))
    return PracticeLayer(layer.name, "Conv1D", config, inputs, step)


def _pool(step: Step, inputs: tuple[str, ...]) -> PracticeLayer:
    config = (("pool_type", POOL_TYPES[step.layer.type]), ("pool_size", step.kernel), ("dilation_rate", step.dilation))
    return PracticeLayer(step.layer.name, "DilatedCausalPooling1D", config, inputs, step)


def _merge(step: Step, inputs: tuple[str, ...]) -> PracticeLayer:
    return PracticeLayer(step.layer.name, step.layer.type, (), inputs, step)


def _activation(step: Step, inputs: tuple[str, ...]) -> PracticeLayer:
    return PracticeLayer(step.layer.name, "Activation", (("activation", step.layer.activation),), inputs, step)


_LOWER = {"conv": _conv, "dense": _conv, "pool": _pool, "merge": _merge, "activation": _activation}


def lower(analysis: Analysis) -> Practice:
    """Map every used spec layer to its practice layer; a Flatten folds into the Dense layers it feeds."""
    source = {}  # spec tensor -> practice tensor that carries it
    layers = []
    for step in analysis.steps:
        if not step.used:
            continue
        inputs = tuple(source.get(name, name) for name in step.layer.inputs)
        if step.layer.kind == "flatten":
            source[step.layer.name] = inputs[0]
            continue
        layers.append(_LOWER[step.layer.kind](step, inputs))
    practice = Practice(analysis, tuple(layers), analysis.spec.output)
    check_practice(practice)
    return practice


def check_practice(practice: Practice) -> None:
    """Invariants of every practice graph: stride 1, causal convolutions, no Dense, dilated pools, known inputs."""
    seen = {"input"}
    for layer in practice.layers:
        assert layer.arg("strides", 1) == 1, f"{layer.name}: practice layers have stride 1"
        assert layer.cls not in ("Dense", "Flatten", "MaxPooling1D", "AveragePooling1D"), layer.cls
        if layer.cls == "Conv1D":
            assert layer.arg("padding") == "causal", f"{layer.name}: practice convolutions are causal"
            assert layer.arg("dilation_rate") >= 1
        if layer.cls == "DilatedCausalPooling1D":
            assert layer.arg("dilation_rate") == layer.step.dilation >= 1, f"{layer.name}: pools are dilated by their grid"
        assert set(layer.inputs) <= seen, f"{layer.name}: inputs defined before use"
        seen.add(layer.name)
    assert practice.output in seen
