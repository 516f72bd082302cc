"""Keras emitter: builds a Keras model from a lowered graph (practice or per-step)."""

from __future__ import annotations

import keras

from convert import layers as custom
from convert.lower import CUSTOM_LAYERS, Graph


def build_model(graph: Graph) -> keras.Model:
    """Practice: (batch, T, C) -> (batch, T, units). Per-step: (batch, W, C) -> (batch, units)."""
    spec = graph.analysis.spec
    tensors = {"input": keras.Input(shape=(graph.input_length, spec.channels), name="input")}
    for layer in graph.layers:
        cls = getattr(custom, layer.cls) if layer.cls in CUSTOM_LAYERS else getattr(keras.layers, layer.cls)
        args = [tensors[name] for name in layer.inputs]
        tensors[layer.name] = cls(name=layer.name, **dict(layer.config))(args if len(args) > 1 else args[0])
    return keras.Model(tensors["input"], tensors[graph.output], name=graph.model_name)
