"""Activation: pointwise in both forms."""

from __future__ import annotations

from convert.kinds.base import Kind
from convert.kinds.fields import ACTIVATION, REQUIRED, Field


class Activation(Kind):
    type = "Activation"
    own_fields = {"activation": Field(ACTIVATION, REQUIRED, "Keras activation name.")}

    def applies_elementwise(self, layer):
        return layer.activation not in ("softmax", "log_softmax")  # these normalise over the whole vector
