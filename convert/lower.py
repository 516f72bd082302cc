"""Lowering: the analysed spec becomes Keras layer graphs, each layer's layers given by its kind.

- the practice graph: stride 1, dilated, one output per time step; with `warmup="causal"` every layer
  pads its own input (Keras's causal padding), with `warmup="exact"` only the input is padded with W-1
  zeros and the layers run unpadded;
- the per-step graph: the spec as plain Keras layers over one window, (batch, W, C) -> (batch, units).

Emitters (Keras model, Python source, weight map) read these graphs; none re-derives the arithmetic.
"""

from __future__ import annotations

from typing import NamedTuple

from convert import edges
from convert.analysis import Analysis, LayerPlan
from convert.graph import KERAS, Graph, GraphLayer
from convert.kinds.base import Geometry
from convert.kinds.ops import OPS, UnknownOp

WARMUPS = ("causal", "exact")
CUSTOM = "convert.layers"  # where causalc's own Keras layers live (generated sources import them from there)
EDGE = "convert.edge_layers"  # the exact 'same' practice model's layers


class _Builder:
    """Collects graph layers; names helper layers uniquely, never clashing with a spec name."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis
        self.layers: list[GraphLayer] = []
        self.taken = {node.name for node in analysis.spec.inputs} | {p.layer.name for p in analysis.plans}
        self.source: dict[str, str] = {}  # spec tensor -> graph tensor that carries it

    def add(self, name: str, cls: str, config: tuple, inputs: tuple[str, ...], plan: LayerPlan | None = None,
            module: str = KERAS, op: str = "pointwise") -> str:
        """Add a layer; a helper (no plan, or a second layer of a spec layer) gets a fresh unique name."""
        if plan is None or plan.layer.name != name:
            while name in self.taken:
                name += "_"
            self.taken.add(name)
        self.layers.append(GraphLayer(name, cls, tuple(config), tuple(inputs), plan, module, op))
        return name

    def tensor(self, name: str) -> str:
        return self.source.get(name, name)


# ---- the practice graph ----

class _Practice(_Builder):
    def __init__(self, analysis: Analysis, warmup: str):
        super().__init__(analysis)
        self.exact = warmup == "exact"
        self.padding = "valid" if self.exact else "causal"

    def right_align(self, plan: LayerPlan, inputs: tuple[str, ...]) -> tuple[str, ...]:
        """In exact warm-up, unpadded branches are shorter by what they consumed: crop each merge input's
        oldest steps so that all end on the same step and have the same length."""
        if not self.exact:
            return inputs
        fields = [self.analysis.tensors[name].receptive_field for name in plan.layer.inputs]
        out = []
        for name, field in zip(inputs, fields):
            crop = max(fields) - field
            if crop:
                name = self.add(f"{plan.layer.name}_{name}_crop", "Cropping1D", (("cropping", (crop, 0)),), (name,),
                                op="crop")
            out.append(name)
        return tuple(out)


class EdgeCost(NamedTuple):
    """A layer of the exact 'same' practice model: its output's edge positions and its multiply-adds per
    output step."""

    edges: int
    width: int
    macs: int

    @property
    def per_window(self) -> bool:
        """Every position is an edge position: the layer computes each window's positions, as per-window
        evaluation does (no exact method can share them between windows)."""
        return self.width > 1 and self.edges == self.width


class _EdgePractice(_Practice):
    """The exact 'same' practice graph (`convert.edges`): every tensor (batch, T, slots, channels)."""

    def __init__(self, analysis: Analysis, warmup: str):
        super().__init__(analysis, warmup)
        self.padding = "valid"
        self.layouts: dict[str, edges.Layout] = {}
        self.shapes: dict[str, tuple[int, int]] = {}  # graph tensor -> (slots, channels) of one step
        self.costs: dict[str, EdgeCost] = {}

    def edge_layer(self, name: str, cls: str, config: tuple, inputs: tuple[str, ...], layout: edges.Layout,
                   channels: int, plan: LayerPlan | None = None, module: str = EDGE, op: str = "edge") -> str:
        name = self.add(name, cls, config, inputs, plan, module=module, op=op)
        self.shapes[name] = (layout.slots, channels)
        return name

    def window(self, plan: LayerPlan, inputs: tuple[str, ...], cls: str, config: tuple) -> str:
        """A convolution, pool or pointwise Dense: interior positions through V, edge positions as rows."""
        layer = plan.layer
        source = self.analysis.tensors[layer.inputs[0]]
        geometry = layer.kind.geometry(layer) or Geometry(1, 1)
        found = edges.window_plan(self.layouts[layer.inputs[0]], geometry, plan.practice.kernel or 1, source.grid)
        edge = {"op": "window", "taps": plan.practice.kernel or 1, "dilation": plan.practice.dilation or 1,
                "vpath": found.vpath, "delays": list(found.delays), "rows": [list(r) for r in found.rows]}
        self.layouts[layer.name] = found.layout
        return self.edge_layer(layer.name, cls, config + (("edge", edge),), inputs, found.layout,
                               plan.out.practice_channels, plan)

    def collapse(self, plan: LayerPlan, inputs: tuple[str, ...], cls: str, config: tuple) -> str:
        """A Flatten + Dense head or a global pool: one position, the exact value for the window ending at t."""
        layer = plan.layer
        grid = self.analysis.tensors[layer.inputs[0]].grid
        found = edges.collapse_plan(self.layouts[layer.inputs[0]], grid)
        edge = {"op": "collapse", "run": list(found.run) if found.run else None, "grid": grid,
                "delays": list(found.delays), "row": list(found.row)}
        layout = edges.Layout(((edges.V, 0),))
        self.layouts[layer.name] = layout
        return self.edge_layer(layer.name, cls, config + (("edge", edge),), inputs, layout, plan.out.channels, plan)

    def align(self, name: str, source: str, tensor: str, found: edges.AlignPlan, layout: edges.Layout,
              plan: LayerPlan | None = None, squeeze: bool = False) -> str:
        edge = {"op": "align", "v_delay": found.v_delay, "slots": [list(s) for s in found.slots], "squeeze": squeeze}
        return self.edge_layer(name, "EdgeAlign", (("edge", edge),), (tensor,), layout,
                               self.analysis.tensors[source].practice_channels, plan)

    def merge(self, plan: LayerPlan, inputs: tuple[str, ...], config: tuple) -> str:
        layer = plan.layer
        names = layer.inputs
        tensors = [self.analysis.tensors[n] for n in names]
        layout, aligns = edges.merge_plan(layer, [self.layouts[n] for n in names], [t.width for t in tensors],
                                          [t.grid for t in tensors], plan.out.width, plan.out.grid)
        aligned = []
        for name, tensor, found in zip(names, inputs, aligns):
            if not found.identity(self.layouts[name]):
                tensor = self.align(f"{layer.name}_{name}_aligned", name, tensor, found, layout)
            aligned.append(tensor)
        self.layouts[layer.name] = layout
        return self.edge_layer(layer.name, layer.type, config, tuple(aligned), layout, plan.out.practice_channels,
                               plan, module=KERAS, op="merge")

    def zero_padding(self, plan: LayerPlan, inputs: tuple[str, ...], padding: tuple[int, int]) -> str:
        layout, found = edges.pad_plan(self.layouts[plan.layer.inputs[0]], *padding)
        self.layouts[plan.layer.name] = layout
        return self.align(plan.layer.name, plan.layer.inputs[0], inputs[0], found, layout, plan)


def _lower_edges(analysis: Analysis, warmup: str) -> Graph:
    """The exact 'same' practice graph: the input as one slot, every layer's edge form, the output's position
    taken out (and in exact warm-up, W-1 zeros before the input, their outputs cropped)."""
    ctx = _EdgePractice(analysis, warmup)
    window = analysis.window
    for node in analysis.spec.inputs:
        tensor = node.name
        if ctx.exact and window > 1:
            tensor = ctx.add("warmup_padding", "ZeroPadding1D", (("padding", (window - 1, 0)),), (tensor,), op="pad")
        layout = edges.input_layout(window)
        ctx.source[node.name] = ctx.edge_layer(f"{node.name}_slots", "Reshape", (("target_shape", (-1, 1, node.channels)),),
                                               (tensor,), layout, node.channels, module=KERAS, op="pointwise")
        ctx.layouts[node.name] = layout
    for plan in analysis.plans:
        if plan.used:
            inputs = tuple(ctx.tensor(name) for name in plan.layer.inputs)
            ctx.source[plan.layer.name] = out = plan.layer.kind.lower_edges(plan, inputs, ctx)
            ctx.layouts.setdefault(plan.layer.name, ctx.layouts[plan.layer.inputs[0]])
            ctx.shapes.setdefault(out, (ctx.layouts[plan.layer.name].slots, plan.out.practice_channels))
            ctx.costs[plan.layer.name] = _edge_cost(plan, ctx)
    name = analysis.spec.output
    output = ctx.align(f"{name}_output", name, ctx.tensor(name), edges.output_plan(ctx.layouts[name]),
                       edges.Layout(((edges.V, 0),)), squeeze=True)
    if ctx.exact and window > 1:
        output = ctx.add("warmup_crop", "Cropping1D", (("cropping", (window - 1, 0)),), (output,), op="crop")
    graph = Graph(analysis, "practice", warmup, None, tuple(ctx.layers), output, dict(ctx.shapes), dict(ctx.costs))
    check_practice(graph)
    return graph


def _edge_cost(plan: LayerPlan, ctx: _EdgePractice) -> EdgeCost:
    layout = ctx.layouts[plan.layer.name]
    edge = ctx.layers[-1].arg("edge") if ctx.layers[-1].name == plan.layer.name else None
    macs = plan.practice.macs * layout.slots  # position-wise: once per slot
    if edge is not None and edge["op"] == "window":
        macs = plan.practice.macs * (edge["vpath"] + len(edge["rows"]))
    elif edge is not None and edge["op"] == "collapse":
        macs = plan.practice.macs + sum(i >= 0 for i in edge["row"]) * plan.out.channels
    return EdgeCost(layout.edges, layout.width, macs)


def lower(analysis: Analysis, warmup: str = "causal") -> Graph:
    """The practice graph; a Flatten folds into the Dense layers it feeds."""
    if warmup not in WARMUPS:
        raise ValueError(f"`warmup` must be one of {WARMUPS}; received {warmup!r}")
    if analysis.spec.same_padding == "exact":
        return _lower_edges(analysis, warmup)
    ctx = _Practice(analysis, warmup)
    if ctx.exact and analysis.window > 1:
        for node in analysis.spec.inputs:
            ctx.source[node.name] = ctx.add("warmup_padding", "ZeroPadding1D", (("padding", (analysis.window - 1, 0)),),
                                            (node.name,), op="pad")
    for plan in analysis.plans:
        if plan.used:
            inputs = tuple(ctx.tensor(name) for name in plan.layer.inputs)
            ctx.source[plan.layer.name] = plan.layer.kind.lower(plan, inputs, ctx)
    output = ctx.tensor(analysis.spec.output)
    extra = analysis.window - analysis.receptive_field
    if ctx.exact and extra > 0:
        output = ctx.add("warmup_crop", "Cropping1D", (("cropping", (extra, 0)),), (output,), op="crop")
    graph = Graph(analysis, "practice", warmup, None, tuple(ctx.layers), output)
    check_practice(graph)
    return graph


def check_practice(graph: Graph) -> None:
    """Invariants of every practice graph: each layer a known practice op that holds its own invariants
    (stride 1; convolutions and pools dilated by their grid and causal, or unpadded in exact warm-up),
    inputs defined before use."""
    padding = "valid" if graph.warmup == "exact" or graph.shapes else "causal"
    seen = {node.name for node in graph.inputs}
    for layer in graph.layers:
        if layer.op not in OPS:
            raise UnknownOp(f"{layer.name}: no practice op {layer.op!r}")
        OPS[layer.op].check(layer, padding)
        assert set(layer.inputs) <= seen, f"{layer.name}: inputs defined before use"
        seen.add(layer.name)
    assert graph.output in seen


# ---- the per-step graph ----

class _PerStep(_Builder):
    def sequence(self, name: str) -> str:
        """A tensor as (batch, positions, channels): a flat (batch, channels) one gets a Reshape to one position."""
        tensor = self.tensor(name)
        if not self.analysis.tensors[name].flat:
            return tensor
        return self.add(f"{name}_as_sequence", "Reshape", (("target_shape", (1, self.analysis.tensors[name].channels)),),
                        (tensor,))

    def align(self, merge: LayerPlan, name: str) -> str:
        """Bring a merge input to the merge's grid (every r-th position counted back from the newest) and width."""
        source = self.analysis.tensors[name]
        tensor = self.sequence(name)
        ratio = merge.out.grid // source.grid
        start = source.width - 1 - (merge.out.width - 1) * ratio
        if ratio == 1 and start == 0:
            return tensor
        return self.add(f"{merge.layer.name}_{name}_aligned", "Subsample1D", (("stride", ratio), ("start", start)),
                        (tensor,), module=CUSTOM)


def per_step_graph(analysis: Analysis) -> Graph:
    """The spec as plain Keras layers over one window; custom layers only where Keras has none."""
    ctx = _PerStep(analysis)
    for plan in analysis.plans:
        if plan.used:
            ctx.source[plan.layer.name] = plan.layer.kind.per_step(plan, ctx)
    name = analysis.spec.output
    output = ctx.tensor(name)
    if not analysis.tensors[name].flat:  # (batch, 1, units) -> (batch, units)
        output = ctx.add(f"{name}_per_step", "Reshape", (("target_shape", (analysis.tensors[name].channels,)),),
                         (output,))
    return Graph(analysis, "per_step", "causal", analysis.window, tuple(ctx.layers), output)
