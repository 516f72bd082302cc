"""Keras backend: builds a Keras model from a lowered graph (practice or per-step)."""

from __future__ import annotations

import keras

from convert.ir.graph import Graph, GraphLayer, Reference, resolve
from convert.kinds import input as input_kind


def _arguments(layer: GraphLayer) -> dict:
    return {key: resolve(value) if isinstance(value, Reference) else value for key, value in layer.config}


def build_model(graph: Graph) -> keras.Model:
    """Practice: (batch, T, C) -> (batch, T, units). Per-step: (batch, W, C) -> (batch, units)."""
    inputs = [keras.Input(shape=input_kind.shape(node, graph.input_length, graph.form), dtype=input_kind.dtype(node),
                          name=node.name) for node in graph.inputs]
    tensors = {node.name: tensor for node, tensor in zip(graph.inputs, inputs)}
    for layer in graph.layers:
        args = [tensors[name] for name in layer.inputs]
        cls = resolve(Reference(layer.module, layer.cls))
        tensors[layer.name] = cls(name=layer.name, **_arguments(layer))(args if len(args) > 1 else args[0])
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, tensors[graph.output], name=graph.model_name)
