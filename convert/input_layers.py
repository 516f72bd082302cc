"""`convert.input_layers`: the module name generated sources and saved models give the layers that bring
inputs to the step rate; they live in `convert.layers.inputs`."""

from convert.layers.inputs import Broadcast1D, HopRepeat1D, OneHot1D, PadSteps1D

__all__ = ["Broadcast1D", "HopRepeat1D", "OneHot1D", "PadSteps1D"]
