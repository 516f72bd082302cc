"""Lowering: the analysed spec becomes Keras layer graphs.

- the practice graph: stride 1, dilated, one output per time step; with `warmup="causal"` every layer
  pads its own input (Keras's causal padding), with `warmup="exact"` only the input is padded with W-1
  zeros and the layers run unpadded;
- the per-step graph: the spec as plain Keras layers over one window, (batch, W, C) -> (batch, units).

Emitters (Keras model, Python source, weight map) read these graphs; none re-derives the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convert.analysis import Analysis, Step

POOL_TYPES = {"MaxPooling1D": "max", "AveragePooling1D": "avg"}
WARMUPS = ("causal", "exact")
CUSTOM_LAYERS = ("DilatedCausalPooling1D", "Subsample1D")


@dataclass(frozen=True)
class GraphLayer:
    """One Keras layer: its class, constructor arguments and inputs; `step` is the spec layer it computes
    (None for the helper layers that pad, crop, subsample or reshape)."""

    name: str
    cls: str
    config: tuple[tuple[str, Any], ...]
    inputs: tuple[str, ...]
    step: Step | None = None

    def arg(self, key: str, default: Any = None) -> Any:
        return dict(self.config).get(key, default)


@dataclass(frozen=True)
class Graph:
    analysis: Analysis
    form: str  # "practice" or "per_step"
    warmup: str  # the practice model's warm-up mode ("causal" or "exact"); "causal" for the per-step form
    input_length: int | None  # None: any length (practice); W (per-step)
    layers: tuple[GraphLayer, ...]
    output: str

    def layer(self, name: str) -> GraphLayer:
        return next(layer for layer in self.layers if layer.name == name)

    @property
    def model_name(self) -> str:
        """The spec's name, with `_per_step` for the per-step model."""
        name = self.analysis.spec.name
        return name if self.form == "practice" else f"{name}_per_step"

    @property
    def weighted(self) -> tuple[GraphLayer, ...]:
        """Layers that hold weights, in order: the practice Conv1D layers or the per-step Conv1D/Dense layers."""
        return tuple(layer for layer in self.layers if layer.cls in ("Conv1D", "Dense"))


class _Names:
    """Unique names for helper layers, never clashing with a spec layer's name."""

    def __init__(self, analysis: Analysis):
        self.taken = {"input"} | {step.layer.name for step in analysis.steps}

    def __call__(self, wanted: str) -> str:
        while wanted in self.taken:
            wanted += "_"
        self.taken.add(wanted)
        return wanted


# ---- the practice graph ----

def lower(analysis: Analysis, warmup: str = "causal") -> Graph:
    """The practice graph; a Flatten folds into the Dense layers it feeds."""
    if warmup not in WARMUPS:
        raise ValueError(f"`warmup` must be one of {WARMUPS}; received {warmup!r}")
    exact = warmup == "exact"
    names = _Names(analysis)
    padding = "valid" if exact else "causal"
    layers: list[GraphLayer] = []
    source = {}  # spec tensor -> graph tensor that carries it
    if exact and analysis.window > 1:
        source["input"] = names("warmup_padding")
        layers.append(GraphLayer(source["input"], "ZeroPadding1D", (("padding", (analysis.window - 1, 0)),), ("input",)))
    for step in analysis.steps:
        if not step.used:
            continue
        layer, kind = step.layer, step.layer.kind
        inputs = tuple(source.get(name, name) for name in layer.inputs)
        if kind == "flatten":
            source[layer.name] = inputs[0]
            continue
        if kind in ("conv", "dense"):
            config = (("filters", layer.filters), ("kernel_size", step.kernel), ("dilation_rate", step.dilation),
                      ("padding", padding), ("activation", layer.activation), ("use_bias", layer.use_bias))
            layers.append(GraphLayer(layer.name, "Conv1D", config, inputs, step))
        elif kind == "pool":
            config = (("pool_type", POOL_TYPES[layer.type]), ("pool_size", step.kernel),
                      ("dilation_rate", step.dilation), ("padding", padding))
            layers.append(GraphLayer(layer.name, "DilatedCausalPooling1D", config, inputs, step))
        elif kind == "activation":
            layers.append(GraphLayer(layer.name, "Activation", (("activation", layer.activation),), inputs, step))
        else:
            if exact:  # unpadded branches are shorter by what they consumed: right-align them
                inputs = _crop_to_match(analysis, layer.inputs, inputs, names, layers, layer.name)
            config = (("axis", -1),) if layer.type == "Concatenate" else ()
            layers.append(GraphLayer(layer.name, layer.type, config, inputs, step))
    output = source.get(analysis.spec.output, analysis.spec.output)
    extra = analysis.window - analysis.receptive_field
    if exact and extra > 0:
        cropped = names("warmup_crop")
        layers.append(GraphLayer(cropped, "Cropping1D", (("cropping", (extra, 0)),), (output,)))
        output = cropped
    graph = Graph(analysis, "practice", warmup, None, tuple(layers), output)
    check_practice(graph)
    return graph


def _crop_to_match(analysis: Analysis, spec_inputs, inputs, names: _Names, layers: list, merge: str) -> tuple:
    """Crop each merge input's oldest steps so all end on the same step and have the same length."""
    fields = [analysis.tensors[name].receptive_field for name in spec_inputs]
    out = []
    for name, field in zip(inputs, fields):
        crop = max(fields) - field
        if crop:
            cropped = names(f"{merge}_{name}_crop")
            layers.append(GraphLayer(cropped, "Cropping1D", (("cropping", (crop, 0)),), (name,)))
            name = cropped
        out.append(name)
    return tuple(out)


def check_practice(graph: Graph) -> None:
    """Invariants of every practice graph: stride 1, no Dense, convolutions and pools dilated and causal
    (or unpadded in exact warm-up), inputs defined before use."""
    padding = "valid" if graph.warmup == "exact" else "causal"
    seen = {"input"}
    for layer in graph.layers:
        assert layer.arg("strides", 1) == 1, f"{layer.name}: practice layers have stride 1"
        assert layer.cls not in ("Dense", "Flatten", "MaxPooling1D", "AveragePooling1D"), layer.cls
        if layer.cls in ("Conv1D", "DilatedCausalPooling1D"):
            assert layer.arg("padding") == padding, f"{layer.name}: practice padding is {padding}"
            assert layer.arg("dilation_rate") == layer.step.dilation >= 1, f"{layer.name}: dilated by its grid"
        assert set(layer.inputs) <= seen, f"{layer.name}: inputs defined before use"
        seen.add(layer.name)
    assert graph.output in seen


# ---- the per-step graph ----

def per_step_graph(analysis: Analysis) -> Graph:
    """The spec as plain Keras layers over one window; custom layers only where Keras has none."""
    names = _Names(analysis)
    layers: list[GraphLayer] = []
    source: dict[str, str] = {}
    flat: set[str] = set()  # graph tensors that are (batch, channels) after a Flatten

    def sequence(name: str) -> str:
        """A (batch, channels) tensor as (batch, 1, channels), for layers and merges that need positions."""
        tensor = source.get(name, name)
        if tensor not in flat:
            return tensor
        reshaped = names(f"{name}_as_sequence")
        layers.append(GraphLayer(reshaped, "Reshape", (("target_shape", (1, analysis.tensors[name].channels)),),
                                 (tensor,)))
        return reshaped

    for step in analysis.steps:
        if not step.used:
            continue
        layer, kind = step.layer, step.layer.kind
        if kind == "conv":
            both = layer.strides > 1 and layer.dilation_rate > 1  # Keras's Conv1D refuses the two together
            config = (("filters", layer.filters), ("kernel_size", layer.kernel_size),
                      ("strides", 1 if both else layer.strides), ("dilation_rate", layer.dilation_rate),
                      ("padding", "valid"), ("activation", layer.activation), ("use_bias", layer.use_bias))
            layers.append(GraphLayer(layer.name, "Conv1D", config, (sequence(layer.inputs[0]),), step))
            if both:
                source[layer.name] = names(f"{layer.name}_strides")
                layers.append(GraphLayer(source[layer.name], "Subsample1D", (("stride", layer.strides), ("start", 0)),
                                         (layer.name,)))
        elif kind == "pool":
            config = (("pool_size", layer.pool_size), ("strides", layer.strides), ("padding", "valid"))
            layers.append(GraphLayer(layer.name, layer.type, config, (sequence(layer.inputs[0]),), step))
        elif kind == "flatten":
            layers.append(GraphLayer(layer.name, "Flatten", (), (source.get(layer.inputs[0], layer.inputs[0]),), step))
            flat.add(layer.name)
        elif kind in ("dense", "activation"):
            cls, config = ("Dense", (("units", layer.filters), ("activation", layer.activation),
                                     ("use_bias", layer.use_bias))) if kind == "dense" else \
                ("Activation", (("activation", layer.activation),))
            tensor = source.get(layer.inputs[0], layer.inputs[0])
            layers.append(GraphLayer(layer.name, cls, config, (tensor,), step))
            if tensor in flat:
                flat.add(layer.name)
        else:
            config = (("axis", -1),) if layer.type == "Concatenate" else ()
            inputs = tuple(source.get(n, n) for n in layer.inputs)
            if all(t in flat for t in inputs):  # width 1 each: nothing to align
                flat.add(layer.name)
            else:
                inputs = tuple(_align(analysis, step, n, sequence(n), names, layers) for n in layer.inputs)
            layers.append(GraphLayer(layer.name, layer.type, config, inputs, step))
    output = source.get(analysis.spec.output, analysis.spec.output)
    if output not in flat:  # (batch, 1, units) -> (batch, units)
        squeezed = names(f"{analysis.spec.output}_per_step")
        layers.append(GraphLayer(squeezed, "Reshape", (("target_shape", (analysis.tensors[analysis.spec.output].channels,)),),
                                 (output,)))
        output = squeezed
    return Graph(analysis, "per_step", "causal", analysis.window, tuple(layers), output)


def _align(analysis: Analysis, merge: Step, spec_input: str, tensor: str, names: _Names, layers: list) -> str:
    """Bring a merge input to the merge's grid (every r-th position counted back from the newest) and width."""
    source = analysis.tensors[spec_input]
    ratio = merge.out.grid // source.grid
    start = source.width - 1 - (merge.out.width - 1) * ratio
    if ratio == 1 and start == 0:
        return tensor
    aligned = names(f"{merge.layer.name}_{spec_input}_aligned")
    layers.append(GraphLayer(aligned, "Subsample1D", (("stride", ratio), ("start", start)), (tensor,)))
    return aligned
