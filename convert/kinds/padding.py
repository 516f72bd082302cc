"""ZeroPadding1D: zeros added before and after the positions, per window (only with `same_padding: exact`,
where its zeros become edge positions of the practice model; see `convert.edges`)."""

from __future__ import annotations

from convert.core.diagnostics import Diagnostic
from convert.ir import edges
from convert.kinds.base import Kind, clip
from convert.kinds.contexts import Context, EdgeContext
from convert.kinds.fields import INT_MAX, Field, Reader, wrong

LIMIT = INT_MAX


def _padding(node, key: str, out: list):
    """An integer >= 0 (both sides) or a list [left, right] of two."""
    items = node.value if isinstance(node.value, list) else [node]
    values = [item.value for item in items]
    if len(values) not in (1, 2) or isinstance(node.value, list) and len(values) != 2 or \
            any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= LIMIT for v in values):
        wrong(node, key, "an integer >= 0 or a list [left, right] of two", out, f"`{key}: 2` or `{key}: [1, 3]`.")
        return None
    return [values[0], values[-1]]


PADDING = Reader(_padding, {"anyOf": [{"type": "integer", "minimum": 0},
                                      {"type": "array", "items": {"type": "integer", "minimum": 0},
                                       "minItems": 2, "maxItems": 2}]})


class ZeroPadding1D(Kind):
    type = "ZeroPadding1D"
    own_fields = {"padding": Field(PADDING, [1, 1], "Zeros before and after the positions: n, or [left, right].")}

    def check(self, layer, out):
        if not layer.exact_same:
            out.append(Diagnostic("E200", layer.key_at("type"), f"ZeroPadding1D `{layer.name}` pads each window, "
                                  "which needs `same_padding: exact`",
                                  "Add `same_padding: exact` at the top of the spec (causalc then computes the "
                                  "per-window zeros exactly), or remove the layer and enlarge the window."))

    def structure(self, layer, ins, out):
        if not layer.exact_same:  # E200, said by `check`
            return None
        if ins[0].flat:
            out.append(Diagnostic("E208", layer.key_at("type"), f"ZeroPadding1D `{layer.name}` follows a Flatten",
                                  "Pad before the Flatten."))
            return None
        return ins[0]

    def width(self, layer, widths, grids, grid):
        return widths[0] + sum(layer.padding)

    def need(self, layer, width, in_grid, grid):
        return max(width - sum(layer.padding), 1)

    def reads(self, layer, position, in_width, width, in_grid, grid):
        q = position - layer.padding[0]
        return (q,) if 0 <= q < in_width else ()

    def read_span(self, layer, first, last, in_width, width, in_grid, grid):
        return [clip(range(first - layer.padding[0], last - layer.padding[0] + 1), 0, in_width)]

    def edge_plan(self, plan, layouts, ins):
        return edges.pad_plan(layouts[0], *plan.layer.padding)

    def lower_edges(self, plan, ctx: EdgeContext):
        return ctx.zero_padding(plan)

    def per_step(self, plan, ctx: Context):
        return ctx.add(plan.layer.name, self.type, (("padding", tuple(plan.layer.padding)),),
                       (ctx.tensor(plan.layer.inputs[0]),), plan)
