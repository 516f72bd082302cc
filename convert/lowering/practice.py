"""The practice graph: stride 1, dilated, one output per time step, each layer's layers given by its kind.
With `warmup="causal"` every layer pads its own input (Keras's causal padding); with `warmup="exact"` only
the input is padded with W-1 zeros and the layers run unpadded. Exact 'same' specs lower in
`convert.lowering.same`. Emitters (Keras model, Python source, weight map) read the graph; none re-derives
the arithmetic."""

from __future__ import annotations

from convert.analysis import Analysis
from convert.core.errors import BadValue
from convert.ir.graph import Graph
from convert.kinds.ops import OPS, UnknownOp
from convert.lowering.builders import PracticeBuilder, drive
from convert.lowering.same import lower_same

WARMUPS = ("causal", "exact")


def lower(analysis: Analysis, warmup: str = "causal") -> Graph:
    """The practice graph; a Flatten folds into the Dense layers it feeds."""
    if warmup not in WARMUPS:
        raise BadValue(f"`warmup` must be one of {WARMUPS}; received {warmup!r}")
    if analysis.spec.same_padding == "exact":
        graph = lower_same(analysis, warmup)
        check_practice(graph)
        return graph
    ctx = PracticeBuilder(analysis, warmup)
    ctx.expand_inputs(True, analysis.window - 1 if ctx.exact else 0)
    drive(ctx, lambda plan, ctx: plan.layer.kind.lower(plan, ctx))
    output = ctx.tensor(analysis.spec.output)
    extra = analysis.window - analysis.receptive_field
    if ctx.exact and extra > 0:
        output = ctx.warmup_crop(output, extra)
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
