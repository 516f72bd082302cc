"""DepthwiseConv1D and SeparableConv1D: per-channel convolutions (and a pointwise one after them).
In practice causalc's causal subclasses of Keras's layers, with Keras's weights unchanged."""

from __future__ import annotations

from convert.ir.graph import activation
from convert.kinds.base import Practice
from convert.kinds.conv import WINDOWED_FIELDS, Convolution, weight_arguments
from convert.kinds.fields import CHANNELS, REQUIRED, SIZE, Field, weight_fields

MULTIPLIER = Field(SIZE, 1, "Output channels per input channel of the depthwise step.")


class DepthwiseConv1D(Convolution):
    type = "DepthwiseConv1D"
    practice_class = ("CausalDepthwiseConv1D", "convert.layers")
    edge_class = "EdgeDepthwiseConv1D"
    op = "depthwise"
    own_fields = {**WINDOWED_FIELDS, "depth_multiplier": MULTIPLIER, **weight_fields(("depthwise", "bias"))}

    def out_channels(self, layer, channels, out):
        return channels * layer.depth_multiplier

    def practice(self, layer, ins, out):
        src = ins[0]
        macs = layer.kernel_size * src.channels * layer.depth_multiplier
        bias = src.channels * layer.depth_multiplier if layer.use_bias else 0
        return Practice(layer.kernel_size, src.grid * layer.dilation_rate, src.channels, macs + bias, macs,
                        macs * out.width)

    def keras_config(self, layer, plan, padding, per_step):
        return (("kernel_size", layer.kernel_size), *self.strides_and_dilation(layer, plan, per_step),
                ("depth_multiplier", layer.depth_multiplier), ("padding", padding), ("activation", activation(layer.activation)),
                ("use_bias", layer.use_bias), *weight_arguments(layer))

    def weights(self, plan):
        layer, channels = plan.layer, plan.practice.in_channels
        shapes = {"kernel": [layer.kernel_size, channels, layer.depth_multiplier]}
        if layer.use_bias:
            shapes["bias"] = [channels * layer.depth_multiplier]
        return {"practice": shapes, "per_step": shapes, "transform": "identity"}


class SeparableConv1D(Convolution):
    type = "SeparableConv1D"
    practice_class = ("CausalSeparableConv1D", "convert.layers")
    edge_class = "EdgeSeparableConv1D"
    op = "separable"
    own_fields = {"filters": Field(CHANNELS, REQUIRED, "Output channels of the pointwise step."), **WINDOWED_FIELDS,
                  "depth_multiplier": MULTIPLIER, **weight_fields(("depthwise", "pointwise", "bias"))}

    def practice(self, layer, ins, out):
        src, m = ins[0], layer.depth_multiplier
        macs = layer.kernel_size * src.channels * m + src.channels * m * layer.filters
        bias = layer.filters if layer.use_bias else 0
        return Practice(layer.kernel_size, src.grid * layer.dilation_rate, src.channels, macs + bias, macs,
                        macs * out.width)

    def keras_config(self, layer, plan, padding, per_step):
        return (("filters", layer.filters), ("kernel_size", layer.kernel_size),
                *self.strides_and_dilation(layer, plan, per_step), ("depth_multiplier", layer.depth_multiplier),
                ("padding", padding), ("activation", activation(layer.activation)), ("use_bias", layer.use_bias),
                *weight_arguments(layer))

    def weights(self, plan):
        layer, channels, m = plan.layer, plan.practice.in_channels, plan.layer.depth_multiplier
        shapes = {"depthwise_kernel": [layer.kernel_size, channels, m],
                  "pointwise_kernel": [1, channels * m, layer.filters]}
        if layer.use_bias:
            shapes["bias"] = [layer.filters]
        return {"practice": shapes, "per_step": shapes, "transform": "identity"}
