"""Dense: pointwise on positions, or after a Flatten a Conv1D whose kernel spans the flattened width."""

from __future__ import annotations

from convert.ir.graph import activation
from convert.kinds.base import Kind, Meta, Practice, collapse_edges, window_edges
from convert.kinds.contexts import EdgeContext, PerStepContext, PracticeContext
from convert.kinds.conv import kernel_weights, weight_arguments
from convert.kinds.fields import ACTIVATION_FIELD, CHANNELS, REQUIRED, USE_BIAS_FIELD, Field, weight_fields

class Dense(Kind):
    type = "Dense"
    practice_type = "Conv1D"
    weighted = True
    own_fields = {"units": Field(CHANNELS, REQUIRED, "Output channels."), "activation": ACTIVATION_FIELD,
                  "use_bias": USE_BIAS_FIELD, **weight_fields(("kernel", "bias"))}

    def structure(self, layer, ins, out):
        return Meta(layer.units, ins[0].grid, ins[0].flat)

    def practice(self, layer, ins, out):
        src = ins[0]
        kernel, dilation, channels = (src.folds[0], src.grid, src.folds[1]) if src.folds else (1, 1, src.channels)
        macs = kernel * channels * layer.units
        bias = layer.units if layer.use_bias else 0
        return Practice(kernel, dilation, channels, macs + bias, macs, macs * out.width)

    def conv_config(self, plan, padding: str, dilation: int | None = None) -> tuple:
        layer = plan.layer
        dilation = plan.practice.dilation if dilation is None else dilation
        return (("filters", layer.units), ("kernel_size", plan.practice.kernel), ("dilation_rate", dilation),
                ("padding", padding), ("activation", activation(layer.activation)), ("use_bias", layer.use_bias),
                *weight_arguments(layer))

    def lower(self, plan, ctx: PracticeContext):
        return ctx.add(plan.layer.name, "Conv1D", self.conv_config(plan, ctx.padding), ctx.inputs(plan), plan, op="conv")

    def edge_plan(self, plan, layouts, ins):
        if ins[0].folds:  # after a Flatten: the head over every position
            return collapse_edges(plan, layouts, ins)
        return window_edges(plan, layouts, ins)

    def lower_edges(self, plan, ctx: EdgeContext):
        config = self.conv_config(plan, "valid")
        if ctx.analysis.tensors[plan.layer.inputs[0]].folds:
            return ctx.collapse(plan, "EdgeHead1D", config)
        return ctx.window(plan, "EdgeConv1D", config)

    def per_window(self, plan, ctx: PerStepContext):
        """The practice Conv1D (kernel: the flattened positions after a Flatten, else 1) over one window."""
        source = plan.layer.inputs[0]
        tensor = ctx.tensor(source) if ctx.analysis.tensors[source].folds else ctx.sequence(source)
        out = ctx.add(plan.layer.name, "Conv1D", self.conv_config(plan, "valid", dilation=1), (tensor,), plan)
        if plan.out.flat:  # as the per-step Dense: (windows, units)
            out = ctx.add(f"{plan.layer.name}_flat", "Reshape", (("target_shape", (plan.layer.units,)),), (out,))
        return out

    def per_step(self, plan, ctx: PerStepContext):
        layer = plan.layer
        config = (("units", layer.units), ("activation", activation(layer.activation)), ("use_bias", layer.use_bias),
                  *weight_arguments(layer))
        return ctx.add(layer.name, "Dense", config, (ctx.tensor(layer.inputs[0]),), plan)

    def weights(self, plan):
        return kernel_weights(plan, [plan.practice.kernel, plan.practice.in_channels, plan.layer.units], reshape=True)
