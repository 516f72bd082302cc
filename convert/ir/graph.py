"""The lowered graphs: Keras layers with their constructor arguments, as data every backend reads."""

from __future__ import annotations

import importlib
import sys
from typing import Any, NamedTuple

from convert.core.records import record

# `plan` is a convert.analysis.LayerPlan and `analysis` an Analysis: the graphs sit below the passes.

KERAS = "keras.layers"
CUSTOM = "convert.layers"  # causalc's own Keras layers and activations (generated sources import them from there)


class Reference(NamedTuple):
    """A Python object passed to a Keras layer by reference (a custom activation function)."""

    module: str
    name: str


def resolve(reference: Reference):
    """The object a reference names: a Keras class, one of causalc's, or a registered kind's (imported
    when first resolved: only the emitters and the stream resolve references)."""
    module = sys.modules.get(reference.module) or importlib.import_module(reference.module)
    return getattr(module, reference.name)


CUSTOM_ACTIVATIONS = {"square": "square", "log": "safe_log"}  # spec name -> function in convert.layers


def activation(name: str):
    """A spec activation as a Keras argument: Keras's own by name, causalc's (square, log) by reference."""
    return Reference(CUSTOM, CUSTOM_ACTIVATIONS[name]) if name in CUSTOM_ACTIVATIONS else name


@record
class GraphLayer:
    """One Keras layer: its class (in `module`), constructor arguments and inputs. `plan` is the spec layer
    it computes (None for the helper layers that pad, crop, subsample or reshape); `op` is the practice op
    (`convert.kinds.ops`) it performs."""

    name: str
    cls: str
    config: tuple[tuple[str, Any], ...]
    inputs: tuple[str, ...]
    plan: Any = None
    module: str = KERAS
    op: str = "pointwise"

    def arg(self, key: str, default: Any = None) -> Any:
        return dict(self.config).get(key, default)

    @property
    def holds_weights(self) -> bool:
        """The layer that carries its spec layer's name and weights."""
        return self.plan is not None and self.plan.layer.name == self.name and self.plan.layer.kind.weighted


@record
class Graph:
    analysis: Any
    form: str  # "practice" or "per_step"
    warmup: str  # the practice model's warm-up mode ("causal" or "exact"); "causal" for the per-step form
    input_length: int | None  # None: any length (practice); W (per-step)
    layers: tuple[GraphLayer, ...]
    output: str
    shapes: dict | None = None  # exact 'same' practice graphs: tensor -> (slots, channels) of one step
    costs: dict | None = None  # and spec layer -> convert.analysis.same.EdgeCost
    same: str | None = None  # how 'same' padding is computed: "edges" or "windows" (convert.lower_same)

    def step_shape(self, name: str) -> tuple[int, ...]:
        """One step of a practice tensor, without the batch: (channels,), or (slots, channels)."""
        if self.shapes is not None:
            return tuple(self.shapes[name])
        while name not in self.analysis.tensors:  # an input brought to the step rate: the input's channels
            name = self.layer(name).inputs[0]
        return (self.analysis.tensors[name].practice_channels,)

    def layer(self, name: str) -> GraphLayer:
        return next(layer for layer in self.layers if layer.name == name)

    @property
    def inputs(self):
        """The model inputs, in spec order."""
        return self.analysis.spec.inputs

    @property
    def model_name(self) -> str:
        """The spec's name, with `_per_step` for the per-step model."""
        name = self.analysis.spec.name
        return name if self.form == "practice" else f"{name}_per_step"

    @property
    def weighted(self) -> tuple[GraphLayer, ...]:
        """Layers that hold weights, in order."""
        return tuple(layer for layer in self.layers if layer.holds_weights)
