"""Lowering of `same_padding: exact` specs (see `convert.edges`): the edge construction, or where it would
save too little, per-window evaluation inside the practice model."""

from __future__ import annotations

from typing import NamedTuple

from convert import edges
from convert.analysis import Analysis, LayerPlan
from convert.builders import CUSTOM, EDGE, PerStepBuilder, PracticeBuilder
from convert.graph import KERAS, Graph
from convert.kinds.base import Geometry


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


class _EdgePractice(PracticeBuilder):
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
        if found.order is not None:  # every position an edge: Keras's per-step layer over the window's positions
            edge["window"] = {"order": list(found.order), "strides": geometry.stride, "dilation": geometry.spacing,
                              "padding": "same" if geometry.same else "valid"}
        self.layouts[layer.name] = found.layout
        return self.edge_layer(layer.name, cls, config + (("edge", edge),), inputs, found.layout,
                               plan.out.practice_channels, plan)

    def collapse(self, plan: LayerPlan, inputs: tuple[str, ...], cls: str, config: tuple) -> str:
        """A Flatten + Dense head or a global pool: one position, the exact value for the window ending at t."""
        layer = plan.layer
        grid = self.analysis.tensors[layer.inputs[0]].grid
        found = edges.collapse_plan(self.layouts[layer.inputs[0]], grid)
        edge = {"op": "collapse", "run": list(found.run) if found.run else None, "grid": grid,
                "delays": list(found.delays), "width": len(found.row),
                "others": [[p, index] for p, index in enumerate(found.row) if index != edges.PAD]}
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


PER_WINDOW_BELOW = 3.0  # the edge construction must save this factor of multiply-adds, else per-window evaluation


def lower_same(analysis: Analysis, warmup: str) -> Graph:
    """The exact 'same' practice graph: the edge construction (`convert.edges`) with the input as one slot,
    every layer's edge form and the output's position taken out; in exact warm-up, W-1 zeros before the
    input and their outputs cropped.

    Interior positions save work only where they are many: gathered edge rows run at about a third of the
    speed of Keras's own convolutions. When the construction saves less than PER_WINDOW_BELOW times the
    multiply-adds of per-window evaluation, the practice model is per-window evaluation instead (the
    per-step layers over every window, cut from the sequence inside the model): never slower than it,
    still one pass over the sequence, still exact."""
    graph = _edges(analysis, warmup) if warmup != "causal" else edge_construction(analysis)
    if analysis.step_macs < PER_WINDOW_BELOW * edge_macs(graph):
        graph = _windows(analysis, warmup)
    return graph


def edge_macs(graph: Graph) -> int:
    """Multiply-adds per output step of an exact 'same' practice graph."""
    return sum(cost.macs for cost in graph.costs.values())


def edge_construction(analysis: Analysis) -> Graph:
    """The edge construction's graph (causal warm-up), whichever form `lower_same` chooses; computed once
    per analysis (lint, explain and the lowering all ask for it)."""
    cached = analysis.__dict__.get("_edge_construction")
    if cached is None:
        cached = _edges(analysis, "causal")
        object.__setattr__(analysis, "_edge_construction", cached)  # a frozen dataclass: a cache, not state
    return cached


class _Windows(PerStepBuilder):
    """The per-step layers, with their practice weights (a Dense as a Conv1D), over (batch * T, W, C)."""

    def __init__(self, analysis: Analysis, warmup: str):
        super().__init__(analysis)
        self.exact = warmup == "exact"

    def add(self, name, cls, config, inputs, plan=None, module=KERAS, op="call"):
        return super().add(name, cls, config, inputs, plan, module, "call" if op == "pointwise" else op)


def _windows(analysis: Analysis, warmup: str) -> Graph:
    ctx = _Windows(analysis, warmup)
    window = analysis.window
    node = analysis.spec.inputs[0]
    sequence = node.name
    if ctx.exact and window > 1:
        sequence = ctx.add("warmup_padding", "ZeroPadding1D", (("padding", (window - 1, 0)),), (sequence,), op="pad")
    ctx.source[node.name] = ctx.add(f"{node.name}_windows", "Windows1D", (("window", window),), (sequence,),
                                    module=CUSTOM, op="windows")
    for plan in analysis.plans:
        if plan.used:
            ctx.source[plan.layer.name] = plan.layer.kind.per_window(plan, ctx)
    name = analysis.spec.output
    output = ctx.add(f"{name}_output", "Unwindows1D", (("window", window),), (ctx.tensor(name), sequence),
                     module=CUSTOM, op="unwindows")
    if ctx.exact and window > 1:
        output = ctx.add("warmup_crop", "Cropping1D", (("cropping", (window - 1, 0)),), (output,), op="crop")
    costs = {plan.layer.name: EdgeCost(plan.out.width, plan.out.width, plan.practice.step_macs)
             for plan in analysis.plans if plan.used}
    return Graph(analysis, "practice", warmup, None, tuple(ctx.layers), output, None, costs, "windows")


def _edges(analysis: Analysis, warmup: str) -> Graph:
    ctx = _EdgePractice(analysis, warmup)
    window = analysis.window
    for node in analysis.spec.inputs:
        tensor = node.name
        if ctx.exact and window > 1:
            tensor = ctx.add("warmup_padding", "ZeroPadding1D", (("padding", (window - 1, 0)),), (tensor,), op="pad")
        layout = edges.input_layout(window)
        ctx.source[node.name] = ctx.edge_layer(f"{node.name}_slots", "Reshape",
                                               (("target_shape", (-1, 1, node.channels)),), (tensor,), layout,
                                               node.channels, module=KERAS, op="pointwise")
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
    return Graph(analysis, "practice", warmup, None, tuple(ctx.layers), output, dict(ctx.shapes), dict(ctx.costs),
                 "edges")


def _edge_cost(plan: LayerPlan, ctx: _EdgePractice) -> EdgeCost:
    layout = ctx.layouts[plan.layer.name]
    edge = ctx.layers[-1].arg("edge") if ctx.layers[-1].name == plan.layer.name else None
    macs = plan.practice.macs * layout.slots  # position-wise: once per slot
    if edge is not None and edge["op"] == "window":
        macs = plan.practice.macs * (edge["vpath"] + len(edge["rows"]))
    elif edge is not None and edge["op"] == "collapse":
        macs = plan.practice.macs + len(edge["others"]) * plan.out.channels
    return EdgeCost(layout.edges, layout.width, macs)


