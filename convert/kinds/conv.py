"""Conv1D: a valid convolution in the per-step network, a dilated causal one in practice."""

from __future__ import annotations

from convert.core.diagnostics import Diagnostic
from convert.ir.graph import activation
from convert.kinds.base import Geometry, Kind, Meta, Practice, geometry_once, window_edges
from convert.kinds.contexts import EdgeContext, PerStepContext, PracticeContext
from convert.kinds.fields import (ACTIVATION_FIELD, CHANNELS, INT_MAX, PADDING_FIELD, REQUIRED, SIZE, USE_BIAS_FIELD,
                                  WEIGHT_ARGUMENTS, Field, same_padding, weight_fields)

WINDOWED_FIELDS = {
    "kernel_size": Field(SIZE, REQUIRED, "Kernel width in positions of the layer's input."),
    "strides": Field(SIZE, 1, "Per-step stride; in practice it becomes a dilation of every later layer."),
    "dilation_rate": Field(SIZE, 1, "Per-step dilation; may be combined with strides."),
    "padding": PADDING_FIELD,
    "activation": ACTIVATION_FIELD,
    "use_bias": USE_BIAS_FIELD,
}


class Convolution(Kind):
    """What every convolution shares: its geometry, its grid, its practice dilation."""

    weighted = True
    practice_class: tuple[str, str] = ("", "")  # (Keras class, module) of the practice layer

    @property
    def practice_type(self) -> str:
        return self.practice_class[0]

    def geometry(self, layer):
        return geometry_once(layer, lambda: Geometry((layer.kernel_size - 1) * layer.dilation_rate + 1, layer.strides,
                                                     layer.dilation_rate, layer.config.get("padding") == "same"))

    def check(self, layer, out):
        same_padding(layer, self.geometry(layer).extent, layer.strides, out)

    def structure(self, layer, ins, out):
        grid = ins[0].grid
        if grid * layer.dilation_rate > INT_MAX or grid * layer.strides > INT_MAX:
            out.append(Diagnostic("E209", layer.span, f"`{layer.name}` needs a practice dilation past 2**31 - 1 "
                                  f"(grid {grid:,} times dilation {layer.dilation_rate:,}, then stride {layer.strides:,})",
                                  "Use fewer or smaller strides before this layer."))
            return None
        channels = self.out_channels(layer, ins[0].channels, out)
        return None if channels is None else Meta(channels, grid * layer.strides)

    def out_channels(self, layer, channels: int, out: list) -> int | None:
        return layer.filters

    def keras_config(self, layer, plan, padding: str, per_step: bool) -> tuple:
        """Constructor arguments of the Keras layer in either form (per-step: strides, valid padding)."""
        raise NotImplementedError

    def lower(self, plan, ctx: PracticeContext):
        layer = plan.layer
        cls, module = self.practice_class
        return ctx.add(layer.name, cls, self.keras_config(layer, plan, ctx.padding, False), ctx.inputs(plan), plan,
                       module=module, op=self.op)

    def edge_plan(self, plan, layouts, ins):
        return window_edges(plan, layouts, ins)

    def lower_edges(self, plan, ctx: EdgeContext):
        return ctx.window(plan, self.edge_class, self.keras_config(plan.layer, plan, "valid", False))

    def per_step(self, plan, ctx: PerStepContext):
        layer = plan.layer
        padding = layer.config.get("padding") or "valid"
        source = ctx.sequence(layer.inputs[0])
        both = layer.strides > 1 and layer.dilation_rate > 1
        if both and padding == "same":  # Keras's zeros for the strided layer, then the unpadded layer
            pad = self.geometry(layer).pad(ctx.analysis.tensors[layer.inputs[0]].width)
            source = ctx.add(f"{layer.name}_padding", "ZeroPadding1D", (("padding", pad),), (source,))
            padding = "valid"
        out = ctx.add(layer.name, self.type, self.keras_config(layer, plan, padding, True), (source,), plan)
        if both:  # Keras refuses the two together: subsample after
            out = ctx.add(f"{layer.name}_strides", "Subsample1D", (("stride", layer.strides), ("start", 0)), (out,),
                          module="convert.layers")
        return out

    def strides_and_dilation(self, layer, plan, per_step: bool) -> tuple:
        if not per_step:
            return (("dilation_rate", plan.practice.dilation),)
        both = layer.strides > 1 and layer.dilation_rate > 1
        return (("strides", 1 if both else layer.strides), ("dilation_rate", layer.dilation_rate))


def weight_arguments(layer) -> tuple:
    """The initializers, regularizers and constraints the spec states, in field order."""
    return tuple((key, layer.config[key]) for key in layer.kind.own_fields
                 if key.endswith(WEIGHT_ARGUMENTS) and layer.config.get(key) is not None)


class Conv1D(Convolution):
    type = "Conv1D"
    practice_class = ("Conv1D", "keras.layers")
    edge_class = "EdgeConv1D"
    op = "conv"
    own_fields = {"filters": Field(CHANNELS, REQUIRED, "Output channels."), **WINDOWED_FIELDS,
                  "groups": Field(SIZE, 1, "Groups of input channels convolved separately (Keras's `groups`)."),
                  **weight_fields(("kernel", "bias"))}

    def out_channels(self, layer, channels, out):
        if channels % layer.groups or layer.filters % layer.groups:
            out.append(Diagnostic("E210", layer.at("groups"), f"`groups` of `{layer.name}` must divide its "
                                  f"{channels} input channel(s) and its {layer.filters} filters; received {layer.groups}",
                                  "Use a `groups` that divides both, or 1."))
            return None
        return layer.filters

    def practice(self, layer, ins, out):
        src = ins[0]
        macs = layer.kernel_size * (src.channels // layer.groups) * layer.filters
        bias = layer.filters if layer.use_bias else 0
        return Practice(layer.kernel_size, src.grid * layer.dilation_rate, src.channels, macs + bias, macs,
                        macs * out.width)

    def keras_config(self, layer, plan, padding, per_step):
        kernel = layer.kernel_size if per_step else plan.practice.kernel
        groups = (("groups", layer.groups),) if layer.groups > 1 else ()
        return (("filters", layer.filters), ("kernel_size", kernel), *self.strides_and_dilation(layer, plan, per_step),
                *groups, ("padding", padding), ("activation", activation(layer.activation)), ("use_bias", layer.use_bias),
                *weight_arguments(layer))

    def weights(self, plan):
        layer = plan.layer
        kernel = [plan.practice.kernel, plan.practice.in_channels // layer.groups, layer.filters]
        return kernel_weights(plan, kernel, reshape=False)


RESHAPE = "reshape (k, c, u) -> (k*c, u)"


def kernel_weights(plan, kernel: list[int], reshape: bool) -> dict:
    """A kernel (and bias) layer's entry: the per-step Dense holds the practice kernel flattened row-major."""
    units = kernel[-1]
    bias = {"bias": [units]} if plan.layer.use_bias else {}
    per_step = [kernel[0] * kernel[1], units] if reshape else kernel
    return {"practice": {"kernel": kernel, **bias}, "per_step": {"kernel": per_step, **bias},
            "transform": {"kernel": RESHAPE, "bias": "identity"} if reshape else "identity"}
