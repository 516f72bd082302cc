"""Keras emitter: builds the practice model from the lowered graph."""

from __future__ import annotations

import keras

from convert.layers import DilatedCausalPooling1D
from convert.lower import Practice

_CUSTOM = {"DilatedCausalPooling1D": DilatedCausalPooling1D}


def build_practice_model(practice: Practice) -> keras.Model:
    """The practice model: (batch, T, C) -> (batch, T, units), one prediction per time step."""
    spec = practice.analysis.spec
    tensors = {"input": keras.Input(shape=(None, spec.channels), name="input")}
    for layer in practice.layers:
        cls = _CUSTOM.get(layer.cls) or getattr(keras.layers, layer.cls)
        args = [tensors[name] for name in layer.inputs]
        tensors[layer.name] = cls(name=layer.name, **dict(layer.config))(args if len(args) > 1 else args[0])
    return keras.Model(tensors["input"], tensors[practice.output], name=model_name(spec.name))


def model_name(name: str) -> str:
    """Keras refuses '/' in names."""
    return name.replace("/", "_")
