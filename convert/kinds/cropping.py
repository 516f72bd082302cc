"""Cropping1D: positions dropped from either end of each window. The oldest ones change nothing in
practice (the window simply holds more than the rest reads); the newest R become a delay: in practice the
layer's output at step t is its input at t - R * grid (convert.layers.Delay1D; in the exact 'same' model,
where every position carries its own delay, the kept positions are gathered). This is how a per-step model
that drops a strided layer's newest leftover positions (PyTorch's and Keras's floor) is written exactly."""

from __future__ import annotations

from convert.core.diagnostics import Diagnostic
from convert.kinds.base import Kind, Practice, clip
from convert.ir import edges
from convert.kinds.contexts import Context, EdgeContext, PracticeContext
from convert.kinds.fields import Field
from convert.kinds.padding import PADDING


class Cropping1D(Kind):
    type = "Cropping1D"
    practice_type = "Delay1D"
    own_fields = {"cropping": Field(PADDING, [1, 1], "Positions dropped from the oldest and the newest end: n, or "
                                    "[oldest, newest].")}

    def structure(self, layer, ins, out):
        if ins[0].flat:
            out.append(Diagnostic("E208", layer.key_at("type"), f"Cropping1D `{layer.name}` follows a Flatten",
                                  "Crop before the Flatten."))
            return None
        return ins[0]

    def width(self, layer, widths, grids, grid):
        return widths[0] - sum(layer.cropping)

    def need(self, layer, width, in_grid, grid):
        return width + sum(layer.cropping)

    def reads(self, layer, position, in_width, width, in_grid, grid):
        q = position + layer.cropping[0]
        return range(q, q + 1) if 0 <= q < in_width else range(0)

    def read_span(self, layer, first, last, in_width, width, in_grid, grid):
        return [clip(range(first + layer.cropping[0], last + layer.cropping[0] + 1), 0, in_width)]

    def practice(self, layer, ins, out):
        return Practice(layer.cropping[1] + 1, ins[0].grid, ins[0].channels)

    def note(self, plan):
        steps = plan.layer.cropping[1] * plan.practice.dilation
        return f"a delay of {steps} step(s): the newest {plan.layer.cropping[1]} position(s) dropped" if steps else None

    def lower(self, plan, ctx: PracticeContext):
        steps = plan.layer.cropping[1] * plan.practice.dilation
        return ctx.add(plan.layer.name, "Delay1D", (("steps", steps), ("padding", ctx.padding)), ctx.inputs(plan),
                       plan, module="convert.layers", op="delay")

    def edge_plan(self, plan, layouts, ins):
        return edges.crop_plan(layouts[0], *plan.layer.cropping)

    def lower_edges(self, plan, ctx: EdgeContext):
        """In the exact 'same' model every position carries its own delay: the kept ones are gathered."""
        return ctx.zero_padding(plan)

    def per_step(self, plan, ctx: Context):
        return ctx.add(plan.layer.name, self.type, (("cropping", tuple(plan.layer.cropping)),),
                       (ctx.tensor(plan.layer.inputs[0]),), plan)
