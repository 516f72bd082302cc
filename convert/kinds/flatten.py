"""Flatten: (n, c) to n * c, row-major; in practice it folds into the Dense layers it feeds."""

from __future__ import annotations

from convert.core.diagnostics import Diagnostic
from convert.kinds.base import Collapsing, Meta, Tensor
from convert.kinds.contexts import Context


class Flatten(Collapsing):
    type = "Flatten"
    practice_type = "(folded into Dense)"
    practice_layer = False

    def structure(self, layer, ins, out):
        return Meta(0, ins[0].grid, True)  # n * c: known once the window is

    def check_users(self, layer, users_of, output, out):
        """A Flatten feeds Dense layers, directly or through layers that map each value on its own (Dropout,
        Rescaling, most activations), which then apply to the sequence before the Dense folds it."""
        bad, waiting, seen = None, [layer], set()
        while waiting and bad is None:
            current = waiting.pop()
            if current.name == output:
                bad = (layer.span, "is the output" if current is layer else f"reaches the output `{output}` unfolded")
                break
            for user in users_of(current.name):
                if user.type == "Dense":
                    continue
                if not user.kind.applies_elementwise(user):
                    bad = (user.key_at("type"), f"feeds {user.type} `{user.name}`")
                elif user.name not in seen:
                    seen.add(user.name)
                    waiting.append(user)
        if bad is not None:
            out.append(Diagnostic("E208", bad[0], f"Flatten `{layer.name}` {bad[1]}; a Flatten must feed Dense layers "
                                  "(through Dropout, Rescaling or an elementwise Activation at most)",
                                  "Follow the Flatten with `{type: Dense, units: ...}`."))

    def output(self, layer, ins, width, meta):
        src = ins[0]
        return Tensor(1, src.width * src.channels, meta.grid, src.receptive_field, True, (src.width, src.channels))

    def lower(self, plan, ctx: Context):
        return ctx.inputs(plan)[0]  # the Dense layers it feeds read the sequence itself

    def per_window(self, plan, ctx: Context):
        return ctx.tensor(plan.layer.inputs[0])  # the Dense it feeds reads the positions, as in practice

    def per_step(self, plan, ctx: Context):
        return ctx.add(plan.layer.name, "Flatten", (), (ctx.tensor(plan.layer.inputs[0]),), plan)
