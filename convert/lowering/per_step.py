"""The per-step graph: the spec as plain Keras layers over one window, (batch, W, C) -> (batch, units);
custom layers only where Keras has none."""

from __future__ import annotations

from convert.analysis import Analysis
from convert.ir.graph import Graph
from convert.lowering.builders import PerStepBuilder, drive


def per_step_graph(analysis: Analysis) -> Graph:
    ctx = PerStepBuilder(analysis)
    ctx.expand_inputs(False)
    drive(ctx, lambda plan, ctx: plan.layer.kind.per_step(plan, ctx))
    name = analysis.spec.output
    output = ctx.tensor(name)
    if not analysis.tensors[name].flat:  # (batch, 1, units) -> (batch, units)
        output = ctx.add(f"{name}_per_step", "Reshape", (("target_shape", (analysis.tensors[name].channels,)),),
                         (output,))
    return Graph(analysis, "per_step", "causal", analysis.window, tuple(ctx.layers), output)
