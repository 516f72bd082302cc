"""BatchNormalization and LayerNormalization over channels: position-wise in both forms (inference)."""

from __future__ import annotations

from convert.kinds.base import Kind, Practice
from convert.kinds.fields import BOOLEAN, Field, number, weight_fields

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
