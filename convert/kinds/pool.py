"""Max and average pooling: valid pooling in the per-step network, dilated causal pooling in practice."""

from __future__ import annotations

from convert.core.diagnostics import Diagnostic
from convert.kinds.base import Geometry, Kind, Meta, Practice, geometry_once, window_edges
from convert.kinds.contexts import EdgeContext, PerStepContext, PracticeContext
from convert.kinds.fields import INT_MAX, PADDING_FIELD, SIZE, Field, same_padding


class Pooling1D(Kind):
    practice_type = "DilatedCausalPooling1D"
    pool_type = ""  # "max" or "avg"
    own_fields = {
        "pool_size": Field(SIZE, 2, "Pool width in positions of the layer's input."),
        "strides": Field(SIZE, lambda values: values.get("pool_size") or 2,
                         "Per-step stride; in practice it becomes a dilation of every later layer. Default: pool_size."),
        "padding": PADDING_FIELD,
    }

    def geometry(self, layer):
        return geometry_once(layer, lambda: Geometry(layer.pool_size, layer.strides, 1,
                                                     layer.config.get("padding") == "same"))

    def check(self, layer, out):
        same_padding(layer, layer.pool_size, layer.strides, out)

    def structure(self, layer, ins, out):
        grid = ins[0].grid * layer.strides
        if grid > INT_MAX:
            out.append(Diagnostic("E209", layer.span, f"the grid after `{layer.name}` passes 2**31 - 1",
                                  "Use fewer or smaller strides."))
            return None
        return Meta(ins[0].channels, grid)

    def practice(self, layer, ins, out):
        return Practice(layer.pool_size, ins[0].grid, ins[0].channels)

    def lower(self, plan, ctx: PracticeContext):
        return dilated_pool(self.pool_type, plan, ctx)

    def edge_plan(self, plan, layouts, ins):
        return window_edges(plan, layouts, ins)

    def lower_edges(self, plan, ctx: EdgeContext):
        return ctx.window(plan, "EdgePooling1D", (("pool_type", self.pool_type),))

    def per_step(self, plan, ctx: PerStepContext):
        layer = plan.layer
        config = (("pool_size", layer.pool_size), ("strides", layer.strides),
                  ("padding", layer.config.get("padding") or "valid"))
        return ctx.add(layer.name, self.type, config, (ctx.sequence(layer.inputs[0]),), plan)


class MaxPooling1D(Pooling1D):
    type = "MaxPooling1D"
    aliases = ("MaxPool1D",)
    pool_type = "max"


class AveragePooling1D(Pooling1D):
    type = "AveragePooling1D"
    aliases = ("AvgPool1D",)
    pool_type = "avg"


def dilated_pool(pool_type: str, plan, ctx: PracticeContext) -> str:
    """The practice pool: causalc's DilatedCausalPooling1D over the practice kernel at the practice dilation."""
    config = (("pool_type", pool_type), ("pool_size", plan.practice.kernel), ("dilation_rate", plan.practice.dilation),
              ("padding", ctx.padding))
    return ctx.add(plan.layer.name, "DilatedCausalPooling1D", config, ctx.inputs(plan), plan, module="convert.layers",
                   op="pool")
