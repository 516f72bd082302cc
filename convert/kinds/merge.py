"""Add, Multiply and Concatenate: inputs brought to the coarsest grid and the smallest width per step;
in practice every input already holds every step, so the Keras merge applies as it is."""

from __future__ import annotations

from convert.core.diagnostics import Diagnostic
from convert.ir import edges
from convert.kinds.base import Kind, Meta
from convert.kinds.contexts import EdgeContext, PerStepContext, PracticeContext
from convert.kinds.fields import AXIS, Field


class Merge(Kind):
    many_inputs = True

    def structure(self, layer, ins, out):
        grids = [m.grid for m in ins]
        grid = max(grids)
        odd = [g for g in grids if grid % g]
        if odd:
            listed = ", ".join(f"`{n}` grid {g}" for n, g in zip(layer.inputs, grids))
            out.append(Diagnostic("E204", layer.at("inputs"), f"{layer.type} `{layer.name}` merges {listed}; "
                                  f"grid {odd[0]} does not divide the coarsest grid {grid}",
                                  "Give the merged branches strides whose products divide one another."))
        channels = self.channels(layer, [m.channels for m in ins], out)
        return Meta(channels, grid, all(m.flat for m in ins))  # after an error, analysis stops once the layers are read

    def channels(self, layer, channels: list[int], out: list) -> int:
        known = [c for c in channels if c]  # a Flatten's channels wait for the window
        if len(set(known)) > 1:
            listed = ", ".join(f"`{n}` has {c}" for n, c in zip(layer.inputs, channels))
            out.append(Diagnostic("E205", layer.at("inputs"), f"{layer.type} `{layer.name}` needs equal "
                                  f"channels; {listed}", "Give the branches the same `filters`, or use Concatenate."))
        return known[0] if known else 0

    def width(self, layer, widths, grids, grid):
        out = None
        for w, g in zip(widths, grids):  # the smallest; written to work on arrays of widths too (window search)
            kept = (w - 1) // (grid // g) + 1
            out = kept if out is None else out - (out - kept) * (out > kept)
        return out

    def reads(self, layer, position, in_width, width, in_grid, grid):
        newest_first = width - 1 - position  # kept positions are counted back from the newest
        return range(in_width - 1 - newest_first * (grid // in_grid), in_width - newest_first * (grid // in_grid))

    def read_span(self, layer, first, last, in_width, width, in_grid, grid):
        step = grid // in_grid  # output p reads the one position in_width - 1 - (width - 1 - p) * step
        return [range(in_width - 1 - (width - 1 - first) * step, in_width - (width - 1 - last) * step, step)]

    def need(self, layer, width, in_grid, grid):
        return (width - 1) * (grid // in_grid) + 1

    def lower(self, plan, ctx: PracticeContext):
        inputs = ctx.right_align(plan, ctx.inputs(plan))
        return ctx.add(plan.layer.name, self.type, self.config(plan.layer), inputs, plan, op="merge")

    def edge_plan(self, plan, layouts, ins):
        return edges.merge_plan(plan.layer, layouts, [t.width for t in ins], [t.grid for t in ins], plan.out.width,
                                plan.out.grid)

    def lower_edges(self, plan, ctx: EdgeContext):
        return ctx.merge(plan, self.config(plan.layer))

    def per_step(self, plan, ctx: PerStepContext):
        names = plan.layer.inputs
        if all(ctx.analysis.tensors[n].flat for n in names):  # width 1 each: nothing to align
            inputs = tuple(ctx.tensor(n) for n in names)
        else:
            inputs = tuple(ctx.align(plan, n) for n in names)
        return ctx.add(plan.layer.name, self.type, self.config(plan.layer), inputs, plan)


class Add(Merge):
    type = "Add"


class Multiply(Merge):
    type = "Multiply"


class Concatenate(Merge):
    type = "Concatenate"
    own_fields = {"axis": Field(AXIS, None, "Concatenation axis: channels (-1).")}

    def channels(self, layer, channels, out):
        return sum(channels)

    def config(self, layer):
        return (("axis", -1),)
