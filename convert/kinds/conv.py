"""Conv1D: a valid convolution in the per-step network, a dilated causal one in practice."""

from __future__ import annotations

from convert.frontend.diagnostics import Diagnostic
from convert.kinds.base import Geometry, Kind, Meta, Practice
from convert.kinds.fields import (ACTIVATION_FIELD, CHANNELS, INT_MAX, PADDING_FIELD, REQUIRED, SIZE, USE_BIAS_FIELD,
                                  Field)


class Conv1D(Kind):
    type = "Conv1D"
    practice_type = "Conv1D"
    weighted = True
    own_fields = {
        "filters": Field(CHANNELS, REQUIRED, "Output channels."),
        "kernel_size": Field(SIZE, REQUIRED, "Kernel width in positions of the layer's input."),
        "strides": Field(SIZE, 1, "Per-step stride; in practice it becomes a dilation of every later layer."),
        "dilation_rate": Field(SIZE, 1, "Per-step dilation; may be combined with strides."),
        "padding": PADDING_FIELD,
        "activation": ACTIVATION_FIELD,
        "use_bias": USE_BIAS_FIELD,
    }

    def geometry(self, layer):
        return Geometry((layer.kernel_size - 1) * layer.dilation_rate + 1, layer.strides)

    def structure(self, layer, ins, out):
        grid = ins[0].grid
        if grid * layer.dilation_rate > INT_MAX or grid * layer.strides > INT_MAX:
            out.append(Diagnostic("E209", layer.span, f"`{layer.name}` needs a practice dilation past 2**31 - 1 "
                                  f"(grid {grid:,} times dilation {layer.dilation_rate:,}, then stride {layer.strides:,})",
                                  "Use fewer or smaller strides before this layer."))
            return None
        return Meta(layer.filters, grid * layer.strides)

    def practice(self, layer, ins, out):
        src = ins[0]
        macs = layer.kernel_size * src.channels * layer.filters
        bias = layer.filters if layer.use_bias else 0
        return Practice(layer.kernel_size, src.grid * layer.dilation_rate, src.channels, macs + bias, macs,
                        macs * out.width)

    def lower(self, plan, inputs, ctx):
        layer = plan.layer
        return ctx.add(layer.name, "Conv1D", conv_config(layer.filters, plan, ctx.padding, layer), inputs, plan, op="conv")

    def per_step(self, plan, ctx):
        layer = plan.layer
        both = layer.strides > 1 and layer.dilation_rate > 1  # Keras's Conv1D refuses the two together
        config = (("filters", layer.filters), ("kernel_size", layer.kernel_size),
                  ("strides", 1 if both else layer.strides), ("dilation_rate", layer.dilation_rate),
                  ("padding", "valid"), ("activation", layer.activation), ("use_bias", layer.use_bias))
        out = ctx.add(layer.name, "Conv1D", config, (ctx.sequence(layer.inputs[0]),), plan)
        if both:
            out = ctx.add(f"{layer.name}_strides", "Subsample1D", (("stride", layer.strides), ("start", 0)), (out,),
                          module="convert.layers")
        return out

    def weights(self, plan):
        return kernel_weights(plan, [plan.practice.kernel, plan.practice.in_channels, plan.layer.filters], reshape=False)


def conv_config(filters: int, plan, padding: str, layer) -> tuple:
    """The practice Conv1D's arguments: the kernel over the stride-1 sequence, dilated by its grid."""
    return (("filters", filters), ("kernel_size", plan.practice.kernel), ("dilation_rate", plan.practice.dilation),
            ("padding", padding), ("activation", layer.activation), ("use_bias", layer.use_bias))


RESHAPE = "reshape (k, c, u) -> (k*c, u)"


def kernel_weights(plan, kernel: list[int], reshape: bool) -> dict:
    """A kernel (and bias) layer's entry: the per-step Dense holds the practice kernel flattened row-major."""
    units = kernel[-1]
    bias = {"bias": [units]} if plan.layer.use_bias else {}
    per_step = [kernel[0] * kernel[1], units] if reshape else kernel
    return {"practice": {"kernel": kernel, **bias}, "per_step": {"kernel": per_step, **bias},
            "transform": {"kernel": RESHAPE, "bias": "identity"} if reshape else "identity"}
