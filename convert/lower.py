"""Lowering: the analysed spec becomes Keras layer graphs, each layer's layers given by its kind.

- the practice graph: stride 1, dilated, one output per time step; with `warmup="causal"` every layer
  pads its own input (Keras's causal padding), with `warmup="exact"` only the input is padded with W-1
  zeros and the layers run unpadded;
- the per-step graph: the spec as plain Keras layers over one window, (batch, W, C) -> (batch, units).

Emitters (Keras model, Python source, weight map) read these graphs; none re-derives the arithmetic.
"""

from __future__ import annotations

from convert.analysis import Analysis
from convert.builders import PerStepBuilder, PracticeBuilder
from convert.graph import Graph
from convert.kinds.ops import OPS, UnknownOp
from convert.lower_same import lower_same

WARMUPS = ("causal", "exact")


def lower(analysis: Analysis, warmup: str = "causal") -> Graph:
    """The practice graph; a Flatten folds into the Dense layers it feeds."""
    if warmup not in WARMUPS:
        raise ValueError(f"`warmup` must be one of {WARMUPS}; received {warmup!r}")
    if analysis.spec.same_padding == "exact":
        graph = lower_same(analysis, warmup)
        check_practice(graph)
        return graph
    ctx = PracticeBuilder(analysis, warmup)
    ctx.expand_inputs(True, analysis.window - 1 if ctx.exact else 0)
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

def per_step_graph(analysis: Analysis) -> Graph:
    """The spec as plain Keras layers over one window; custom layers only where Keras has none."""
    ctx = PerStepBuilder(analysis)
    ctx.expand_inputs(False)
    for plan in analysis.plans:
        if plan.used:
            ctx.source[plan.layer.name] = plan.layer.kind.per_step(plan, ctx)
    name = analysis.spec.output
    output = ctx.tensor(name)
    if not analysis.tensors[name].flat:  # (batch, 1, units) -> (batch, units)
        output = ctx.add(f"{name}_per_step", "Reshape", (("target_shape", (analysis.tensors[name].channels,)),),
                         (output,))
    return Graph(analysis, "per_step", "causal", analysis.window, tuple(ctx.layers), output)
