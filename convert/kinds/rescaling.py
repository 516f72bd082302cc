"""Rescaling: x * scale + offset, position-wise in both forms."""

from __future__ import annotations

from convert.kinds.base import Kind, Practice
from convert.kinds.fields import REQUIRED, Field, number

ANY_NUMBER = number(-3.4e38, 3.4e38)


class Rescaling(Kind):
    type = "Rescaling"
    elementwise = True
    own_fields = {"scale": Field(ANY_NUMBER, REQUIRED, "Factor every input is multiplied by."),
                  "offset": Field(ANY_NUMBER, 0.0, "Added after scaling.")}

    def practice(self, layer, ins, out):
        return Practice(in_channels=ins[0].channels, macs=ins[0].channels, step_macs=ins[0].channels * out.width)
