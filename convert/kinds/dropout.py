"""Dropout and SpatialDropout1D: the identity at inference, in both forms."""

from __future__ import annotations

from convert.kinds.base import Kind, Meta
from convert.kinds.contexts import EdgeContext, PerStepContext
from convert.kinds.fields import RATE, REQUIRED, SIZE, Field

SEED = Field(SIZE, None, "Seed of the dropout masks.")


class Dropout(Kind):
    type = "Dropout"
    elementwise = True
    own_fields = {"rate": Field(RATE, REQUIRED, "Fraction of the inputs set to zero in training, in [0, 1)."),
                  "seed": SEED}


class SpatialDropout1D(Kind):
    """Drops whole channels in training; Keras's layer needs positions, so a flat input gets one."""

    type = "SpatialDropout1D"
    own_fields = {"rate": Field(RATE, REQUIRED, "Fraction of the channels set to zero in training, in [0, 1)."),
                  "seed": SEED}

    def structure(self, layer, ins, out):
        return Meta(ins[0].channels, ins[0].grid)

    def lower_edges(self, plan, ctx: EdgeContext):
        """Keras's layer takes (batch, T, channels) only: the same masks as a Dropout over whole channels."""
        config = (("rate", plan.layer.rate), ("noise_shape", (None, 1, 1, None)), ("seed", plan.layer.seed))
        return ctx.add(plan.layer.name, "Dropout", config, ctx.inputs(plan), plan)

    def per_step(self, plan, ctx: PerStepContext):
        name = plan.layer.inputs[0]
        return ctx.add(plan.layer.name, self.type, self.config(plan.layer), (ctx.sequence(name),), plan)
