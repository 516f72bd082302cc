"""Embedding: a categorical input's integers to learnt vectors, position-wise in both forms."""

from __future__ import annotations

from convert.core.diagnostics import Diagnostic
from convert.kinds.base import Kind, Meta, Practice
from convert.kinds.contexts import Context
from convert.kinds.fields import CHANNELS, REQUIRED, Field, positive, weight_fields
from convert.kinds.input import CATEGORIES_MAX


class Embedding(Kind):
    type = "Embedding"
    weighted = True
    reads_integers = True
    own_fields = {"input_dim": Field(positive(CATEGORIES_MAX, False), REQUIRED,
                                     "Rows of the table: at least the input's `categories`."),
                  "output_dim": Field(CHANNELS, REQUIRED, "Channels of each embedded step."),
                  **weight_fields(("embeddings",), activity=False)}

    def structure(self, layer, ins, out):
        source = ins[0]
        if not source.categories:
            out.append(Diagnostic("E114", layer.at("inputs"), f"Embedding `{layer.name}` reads `{layer.inputs[0]}`, "
                                  "which is not a categorical input", "Declare the input with `categories: K` in "
                                  "`inputs:` and name it here; a float signal needs a Conv1D or Dense instead."))
            return None
        if layer.input_dim < source.categories:
            out.append(Diagnostic("E114", layer.at("input_dim"), f"`input_dim` {layer.input_dim} is smaller than the "
                                  f"{source.categories} categories of `{layer.inputs[0]}`",
                                  f"`input_dim: {source.categories}`."))
            return None
        return Meta(layer.output_dim, source.grid)

    def practice(self, layer, ins, out):
        return Practice(in_channels=ins[0].channels, params=layer.input_dim * layer.output_dim,
                        macs=layer.output_dim, step_macs=layer.output_dim * out.width)

    def lower(self, plan, ctx: Context):
        return ctx.add(plan.layer.name, self.type, self.config(plan.layer), (ctx.integers(plan.layer.inputs[0]),), plan)

    def per_step(self, plan, ctx: Context):
        return self.lower(plan, ctx)

    def weights(self, plan):
        shapes = {"embeddings": [plan.layer.input_dim, plan.layer.output_dim]}
        return {"practice": shapes, "per_step": shapes, "transform": "identity"}
