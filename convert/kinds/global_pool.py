"""Global average and max pooling over the whole width of the input: width 1 after. In practice a dilated
causal pool of that width at the input's grid, computed by a doubling tree (O(log n) per step)."""

from __future__ import annotations

from convert.kinds.base import Collapsing, Meta, Practice, Tensor, collapse_edges
from convert.kinds.contexts import EdgeContext, PerStepContext, PracticeContext
from convert.kinds.fields import BOOLEAN, Field
from convert.kinds.pool import dilated_pool


def tree_steps(size: int) -> int:
    """Combining steps of a doubling tree over `size` taps: the levels, then one per further set bit."""
    return max(size.bit_length() - 1, 0) + max(bin(size).count("1") - 1, 0)


class GlobalPooling1D(Collapsing):
    practice_type = "DilatedCausalPooling1D"
    pool_type = ""
    own_fields = {"keepdims": Field(BOOLEAN, False, "Keep the single position: (batch, 1, channels).")}

    def structure(self, layer, ins, out):
        return Meta(ins[0].channels, ins[0].grid, not layer.keepdims)

    def output(self, layer, ins, width, meta):
        return Tensor(1, meta.channels, meta.grid, ins[0].receptive_field, meta.flat)

    def practice(self, layer, ins, out):
        src = ins[0]
        return Practice(src.width, src.grid, src.channels, macs=tree_steps(src.width) * src.channels)

    def note(self, plan):
        size, grid = plan.practice.kernel, plan.practice.dilation
        return (f"a global {self.what} over {size:,} positions at grid {grid:,}: a dilated causal pool of size "
                f"{size:,}, computed by a doubling tree in {tree_steps(size)} combining step(s) per output step "
                f"instead of {max(size - 1, 0):,}")

    def lower(self, plan, ctx: PracticeContext):
        return dilated_pool(self.pool_type, plan, ctx)

    def edge_plan(self, plan, layouts, ins):
        return collapse_edges(plan, layouts, ins)

    def lower_edges(self, plan, ctx: EdgeContext):
        return ctx.collapse(plan, "EdgeGlobalPooling1D", (("pool_type", self.pool_type),))

    def per_step(self, plan, ctx: PerStepContext):
        layer = plan.layer
        return ctx.add(layer.name, self.type, (("keepdims", layer.keepdims),), (ctx.sequence(layer.inputs[0]),), plan)


class GlobalAveragePooling1D(GlobalPooling1D):
    type = "GlobalAveragePooling1D"
    aliases = ("GlobalAvgPool1D",)
    pool_type, what = "avg", "average"


class GlobalMaxPooling1D(GlobalPooling1D):
    type = "GlobalMaxPooling1D"
    aliases = ("GlobalMaxPool1D",)
    pool_type, what = "max", "maximum"
