"""BatchNormalization and LayerNormalization over channels: position-wise in both forms (inference)."""

from __future__ import annotations

from convert.core.diagnostics import Diagnostic
from convert.kinds.base import Kind, Practice
from convert.kinds.fields import BOOLEAN, CHANNELS, Field, number, weight_fields

EPSILON = Field(number(0.0, 1.0, low_open=True), 0.001, "Added to the variance before its square root.")
CENTER = Field(BOOLEAN, True, "Whether to add the learnt offset `beta`.")
SCALE = Field(BOOLEAN, True, "Whether to multiply by the learnt factor `gamma`.")


class Normalization(Kind):
    weighted = True
    statistics: tuple[str, ...] = ()  # weights past gamma and beta

    def practice(self, layer, ins, out):
        channels = ins[0].channels
        count = (layer.scale + layer.center + len(self.statistics)) * channels
        return Practice(in_channels=channels, params=count, macs=channels, step_macs=channels * out.width)

    def weights(self, plan):
        layer, channels = plan.layer, [plan.practice.in_channels]
        names = ["gamma"] * layer.scale + ["beta"] * layer.center + list(self.statistics)
        shapes = {name: channels for name in names}
        return {"practice": shapes, "per_step": shapes, "transform": "identity"}


class BatchNormalization(Normalization):
    """In inference, (x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta, per channel."""

    type = "BatchNormalization"
    statistics = ("moving_mean", "moving_variance")
    own_fields = {"momentum": Field(number(0.0, 1.0), 0.99, "Weight of the old moving statistics in training."),
                  "epsilon": EPSILON, "center": CENTER, "scale": SCALE,
                  **weight_fields(("beta", "gamma"), activity=False),
                  **weight_fields(("moving_mean", "moving_variance"), kinds=("initializer",), activity=False)}


class LayerNormalization(Normalization):
    """Each position normalised over its channels: (x - mean) / sqrt(variance + epsilon) * gamma + beta."""

    type = "LayerNormalization"
    own_fields = {"epsilon": EPSILON, "center": CENTER, "scale": SCALE,
                  **weight_fields(("beta", "gamma"), activity=False)}


class GroupNormalization(Normalization):
    """Channels in `groups` groups, each normalised over its channels: (x - mean) / sqrt(variance + epsilon)
    * gamma + beta. Keras's layer also normalises over positions, so a spec takes it only where the tensor
    has none (after a global pool or a Flatten + Dense head); in practice causalc's ChannelGroupNormalization
    does it at each time step."""

    type = "GroupNormalization"
    practice_type = "ChannelGroupNormalization"
    own_fields = {"groups": Field(CHANNELS, 32, "Groups of channels, each normalised on its own (Keras's default 32)."),
                  "epsilon": EPSILON, "center": CENTER, "scale": SCALE,
                  **weight_fields(("beta", "gamma"), activity=False)}

    def structure(self, layer, ins, out):
        if not ins[0].flat:
            out.append(Diagnostic("E213", layer.key_at("type"), f"GroupNormalization `{layer.name}` reads a tensor "
                                  "with positions: it would normalise over the window's positions too",
                                  "Place it after a global pool or a Flatten + Dense head, or use LayerNormalization."))
            return None
        if ins[0].channels and ins[0].channels % layer.groups:
            out.append(Diagnostic("E210", layer.at("groups") if "groups" in layer.config else layer.key_at("type"),
                                  f"`groups` {layer.groups} does not divide the {ins[0].channels} channels of "
                                  f"`{layer.inputs[0]}`", "Use a divisor of the channels."))
            return None
        return ins[0]

    def lower(self, plan, ctx):
        return ctx.add(plan.layer.name, "ChannelGroupNormalization", self.config(plan.layer), ctx.inputs(plan), plan,
                       module="convert.layers")

    def per_window(self, plan, ctx):
        return ctx.add(plan.layer.name, "ChannelGroupNormalization", self.config(plan.layer),
                       (ctx.tensor(plan.layer.inputs[0]),), plan, module="convert.layers")
