"""Every Keras layer causalc registers: the practice model's causal layers and activations (`causal`,
re-exported here: generated sources and saved models name them `convert.layers`), the exact 'same' edge
layers (`edges`, named `convert.edge_layers`) and the layers that bring inputs to the step rate (`inputs`,
named `convert.input_layers`)."""

from convert.layers.causal import (CausalDepthwiseConv1D, CausalSeparableConv1D, ChannelGroupNormalization,
                                   ChannelPReLU, Delay1D, DilatedCausalPooling1D, Subsample1D, Unwindows1D, Windows1D,
                                   safe_log, square, tree_pool)

__all__ = ["CausalDepthwiseConv1D", "CausalSeparableConv1D", "ChannelGroupNormalization", "ChannelPReLU", "Delay1D",
           "DilatedCausalPooling1D", "Subsample1D", "Unwindows1D", "Windows1D", "safe_log", "square", "tree_pool"]
