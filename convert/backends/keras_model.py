"""Keras backend: builds a Keras model from a lowered graph (practice or per-step)."""

from __future__ import annotations

import importlib

import keras

from convert.graph import Graph, GraphLayer


def layer_class(layer: GraphLayer) -> type:
    """The Keras class a graph layer names: Keras's own, causalc's (`convert.layers`) or a registered kind's."""
    return getattr(importlib.import_module(layer.module), layer.cls)


def build_model(graph: Graph) -> keras.Model:
    """Practice: (batch, T, C) -> (batch, T, units). Per-step: (batch, W, C) -> (batch, units)."""
    inputs = [keras.Input(shape=(graph.input_length, node.channels), name=node.name) for node in graph.inputs]
    tensors = {node.name: tensor for node, tensor in zip(graph.inputs, inputs)}
    for layer in graph.layers:
        args = [tensors[name] for name in layer.inputs]
        tensors[layer.name] = layer_class(layer)(name=layer.name, **dict(layer.config))(args if len(args) > 1 else args[0])
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, tensors[graph.output], name=graph.model_name)
