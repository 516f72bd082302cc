"""Lowering of `same_padding: exact` specs from their plan (`convert.analysis.same`): the edge
construction (`convert.ir.edges`: every tensor (batch, T, slots, channels), slot 0 the shared sequence V),
or where it would save too little, per-window evaluation inside the practice model (the per-step layers
over every window, cut from the sequence inside the model: never slower than it, still one pass over the
sequence, still exact). In exact warm-up, W-1 zeros before the input and their outputs cropped."""

from __future__ import annotations

from convert.analysis import Analysis, LayerPlan
from convert.analysis.same import same_plan
from convert.ir import edges
from convert.ir.graph import KERAS, Graph
from convert.kinds.base import Geometry
from convert.lowering.builders import CUSTOM, EDGE, PerStepBuilder, PracticeBuilder, drive


def lower_same(analysis: Analysis, warmup: str) -> Graph:
    """The exact 'same' practice graph in the form its plan chose."""
    if same_plan(analysis).form == "windows":
        return _windows(analysis, warmup)
    return _edges(analysis, warmup)


class _EdgePractice(PracticeBuilder):
    """The exact 'same' practice graph: each spec layer built from its edge plan."""

    def __init__(self, analysis: Analysis, warmup: str):
        super().__init__(analysis, warmup)
        self.padding = "valid"
        self.plan = same_plan(analysis)
        self.shapes: dict[str, tuple[int, int]] = {}  # graph tensor -> (slots, channels) of one step

    def edge_layer(self, name: str, cls: str, config: tuple, inputs: tuple[str, ...], layout: edges.Layout,
                   channels: int, plan: LayerPlan | None = None, module: str = EDGE, op: str = "edge") -> str:
        name = self.add(name, cls, config, inputs, plan, module=module, op=op)
        self.shapes[name] = (layout.slots, channels)
        return name

    def lowered(self, plan: LayerPlan, out: str) -> str:
        self.shapes.setdefault(out, (self.plan.layouts[plan.layer.name].slots, plan.out.practice_channels))
        return out

    def window(self, plan: LayerPlan, cls: str, config: tuple) -> str:
        """A convolution, pool or pointwise Dense: interior positions through V, edge positions as rows."""
        layer = plan.layer
        found = self.plan.plans[layer.name]
        geometry = layer.kind.geometry(layer) or Geometry(1, 1)
        edge = edges.WindowEdge(plan.practice.kernel or 1, plan.practice.dilation or 1, found, geometry.stride,
                                geometry.spacing, geometry.same)
        return self.edge_layer(layer.name, cls, config + (("edge", edge),), self.inputs(plan), found.layout,
                               plan.out.practice_channels, plan)

    def collapse(self, plan: LayerPlan, cls: str, config: tuple) -> str:
        """A Flatten + Dense head or a global pool: one position, the exact value for the window ending at t."""
        layer = plan.layer
        found = self.plan.plans[layer.name]
        edge = edges.CollapseEdge(found, self.analysis.tensors[layer.inputs[0]].grid)
        return self.edge_layer(layer.name, cls, config + (("edge", edge),), self.inputs(plan), found.layout,
                               plan.out.channels, plan)

    def align(self, name: str, source: str, tensor: str, found: edges.AlignPlan, layout: edges.Layout,
              plan: LayerPlan | None = None, squeeze: bool = False) -> str:
        return self.edge_layer(name, "EdgeAlign", (("edge", edges.AlignEdge(found, squeeze)),), (tensor,), layout,
                               self.analysis.tensors[source].practice_channels, plan)

    def merge(self, plan: LayerPlan, config: tuple) -> str:
        layer = plan.layer
        found = self.plan.plans[layer.name]
        aligned = []
        for name, tensor, align in zip(layer.inputs, self.inputs(plan), found.aligns):
            if not align.identity(self.plan.layouts[name]):
                tensor = self.align(f"{layer.name}_{name}_aligned", name, tensor, align, found.layout)
            aligned.append(tensor)
        return self.edge_layer(layer.name, layer.type, config, tuple(aligned), found.layout, plan.out.practice_channels,
                               plan, module=KERAS, op="merge")

    def zero_padding(self, plan: LayerPlan) -> str:
        found = self.plan.plans[plan.layer.name]
        source = plan.layer.inputs[0]
        return self.align(plan.layer.name, source, self.tensor(source), found.align, found.layout, plan)


def _edges(analysis: Analysis, warmup: str) -> Graph:
    ctx = _EdgePractice(analysis, warmup)
    window = analysis.window
    for node in analysis.spec.inputs:
        tensor = node.name
        if ctx.exact and window > 1:
            tensor = ctx.warmup_padding(tensor, window - 1)
        ctx.source[node.name] = ctx.edge_layer(f"{node.name}_slots", "Reshape",
                                               (("target_shape", (-1, 1, node.channels)),), (tensor,),
                                               ctx.plan.layouts[node.name], node.channels, module=KERAS, op="pointwise")
    drive(ctx, lambda plan, ctx: plan.layer.kind.lower_edges(plan, ctx))
    name = analysis.spec.output
    output = ctx.align(f"{name}_output", name, ctx.tensor(name), edges.output_plan(ctx.plan.layouts[name]),
                       edges.Layout(((edges.V, 0),)), squeeze=True)
    if ctx.exact and window > 1:
        output = ctx.warmup_crop(output, window - 1)
    return Graph(analysis, "practice", warmup, None, tuple(ctx.layers), output, dict(ctx.shapes),
                 dict(ctx.plan.costs), "edges")


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
        sequence = ctx.warmup_padding(sequence, window - 1)
    ctx.source[node.name] = ctx.add(f"{node.name}_windows", "Windows1D", (("window", window),), (sequence,),
                                    module=CUSTOM, op="windows")
    drive(ctx, lambda plan, ctx: plan.layer.kind.per_window(plan, ctx))
    name = analysis.spec.output
    output = ctx.add(f"{name}_output", "Unwindows1D", (("window", window),), (ctx.tensor(name), sequence),
                     module=CUSTOM, op="unwindows")
    if ctx.exact and window > 1:
        output = ctx.warmup_crop(output, window - 1)
    return Graph(analysis, "practice", warmup, None, tuple(ctx.layers), output, None,
                 dict(same_plan(analysis).windows), "windows")

