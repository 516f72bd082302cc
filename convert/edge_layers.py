"""`convert.edge_layers`: the module name generated sources and saved models give the exact 'same' edge
layers; they live in `convert.layers.edges`."""

from convert.layers.edges import (EdgeAlign, EdgeConv1D, EdgeDepthwiseConv1D, EdgeGlobalPooling1D, EdgeHead1D,
                                  EdgePooling1D, EdgeSeparableConv1D)

__all__ = ["EdgeAlign", "EdgeConv1D", "EdgeDepthwiseConv1D", "EdgeGlobalPooling1D", "EdgeHead1D", "EdgePooling1D",
           "EdgeSeparableConv1D"]
