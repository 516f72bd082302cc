"""Flatten: (n, c) to n * c, row-major; in practice it folds into the Dense layers it feeds."""

from __future__ import annotations

from convert.frontend.diagnostics import Diagnostic
from convert.kinds.base import Collapsing, Meta, Tensor


class Flatten(Collapsing):
    type = "Flatten"
    practice_type = "(folded into Dense)"

    def structure(self, layer, ins, out):
        return Meta(0, ins[0].grid, True)  # n * c: known once the window is

    def check_users(self, layer, users, is_output, out):
        bad = [u for u in users if u.type != "Dense"]
        if bad or is_output:
            where = bad[0].key_at("type") if bad else layer.span
            what = f"feeds {bad[0].type} `{bad[0].name}`" if bad else "is the output"
            out.append(Diagnostic("E208", where, f"Flatten `{layer.name}` {what}; a Flatten must feed Dense layers",
                                  "Follow the Flatten with `{type: Dense, units: ...}`."))

    def output(self, layer, ins, width, meta):
        src = ins[0]
        return Tensor(1, src.width * src.channels, meta.grid, src.receptive_field, True, (src.width, src.channels))

    def lower(self, plan, inputs, ctx):
        return inputs[0]  # the Dense layers it feeds read the sequence itself

    def per_step(self, plan, ctx):
        return ctx.add(plan.layer.name, "Flatten", (), (ctx.tensor(plan.layer.inputs[0]),), plan)
