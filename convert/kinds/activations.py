"""Keras's activation layers with arguments of their own: ReLU, LeakyReLU, ELU, Softmax and PReLU.

Each maps every position on its own, in both forms, as the Keras layer of the same name does (the one an
imported model holds). The plain `Activation` kind covers the activations without arguments.
"""

from __future__ import annotations

from convert.core.diagnostics import Diagnostic
from convert.kinds.base import Kind, Practice
from convert.kinds.contexts import PerStepContext
from convert.kinds.fields import Field, Reader, number, weight_fields

NON_NEGATIVE = number(0.0, 3.4e38)
ANY_NUMBER = number(-3.4e38, 3.4e38)


def _last_axis(node, key: str, out: list):
    if node.value not in (-1, 2) or isinstance(node.value, bool):
        out.append(Diagnostic("E114", node.span, f"`axis` must be -1 (channels); received {node.value!r}",
                              "A per-step layer normalises each position over its channels: remove `axis`."))
    return None


LAST_AXIS = Reader(_last_axis, {"enum": [-1, 2]})


class ReLU(Kind):
    """max(x, 0) with Keras's options: values at or above `threshold` pass (capped at `max_value`), values
    below it become negative_slope * (x - threshold)."""

    type = "ReLU"
    elementwise = True
    own_fields = {"max_value": Field(NON_NEGATIVE, None, "Largest output (none: uncapped)."),
                  "negative_slope": Field(NON_NEGATIVE, 0.0, "Slope below the threshold."),
                  "threshold": Field(NON_NEGATIVE, 0.0, "Inputs below it are damped by the slope.")}


class LeakyReLU(Kind):
    type = "LeakyReLU"
    elementwise = True
    own_fields = {"negative_slope": Field(NON_NEGATIVE, 0.3, "Slope for negative inputs (Keras's default 0.3; "
                                          "PyTorch's 0.01).")}


class ELU(Kind):
    type = "ELU"
    elementwise = True
    own_fields = {"alpha": Field(ANY_NUMBER, 1.0, "alpha * (exp(x) - 1) for negative inputs.")}


class Softmax(Kind):
    """Over each position's channels: not elementwise (it cannot stand between a Flatten and its Dense)."""

    type = "Softmax"
    own_fields = {"axis": Field(LAST_AXIS, None, "-1: over channels (the only axis a per-step layer has).")}


class PReLU(Kind):
    """max(x, 0) + alpha * min(x, 0) with a learnt alpha per channel, shared by every position (Keras's
    `shared_axes=[1]`; a flat per-step tensor has one position, so its alpha needs no sharing)."""

    type = "PReLU"
    practice_type = "ChannelPReLU"
    weighted = True
    own_fields = weight_fields(("alpha",), activity=False)

    def practice(self, layer, ins, out):
        channels = ins[0].channels
        return Practice(in_channels=channels, params=channels, macs=channels, step_macs=channels * out.width)

    def lower(self, plan, ctx):
        """causalc's ChannelPReLU: one alpha per channel over tensors of any rank (sequences and the exact
        'same' model's slots alike)."""
        return ctx.add(plan.layer.name, "ChannelPReLU", self.config(plan.layer), ctx.inputs(plan), plan,
                       module="convert.layers")

    def per_window(self, plan, ctx: PerStepContext):
        """Per-window evaluation inside the practice model holds the practice model's weights: ChannelPReLU."""
        return ctx.add(plan.layer.name, "ChannelPReLU", self.config(plan.layer), (ctx.tensor(plan.layer.inputs[0]),),
                       plan, module="convert.layers")

    def per_step(self, plan, ctx: PerStepContext):
        config = self.config(plan.layer) + ((("shared_axes", (1,)),) if not plan.out.flat else ())
        return ctx.add(plan.layer.name, self.type, config, (ctx.tensor(plan.layer.inputs[0]),), plan)

    def weights(self, plan):
        channels = plan.practice.in_channels
        per_step = [channels] if plan.out.flat else [1, channels]
        return {"practice": {"alpha": [channels]}, "per_step": {"alpha": per_step},
                "transform": {"alpha": f"reshape {tuple(per_step)} -> ({channels},)"}}
