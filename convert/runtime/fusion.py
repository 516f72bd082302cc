"""The stream's shared matmuls: convolutions that read the same input with the same taps computed as one."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from convert.ir.graph import Graph, GraphLayer
from convert.kinds.ops import OPS


def fuse(graph: Graph, weights: dict, apart: bool = False) -> tuple[dict, dict]:
    """Convolutions that read the same input with the same taps share one matmul: their kernels and biases
    are concatenated (WaveNet's filter and gate, its residual and skip 1x1 convolutions). `apart`: each its
    own (`convert.runtime.stream.StreamingModel.apart`)."""
    members: dict[tuple, list[GraphLayer]] = {}
    for layer in graph.layers:
        if layer.op == "conv":
            key = (layer.inputs[0], layer.arg("kernel_size"), layer.arg("dilation_rate")) + ((layer.name,) if apart else ())
            members.setdefault(key, []).append(layer)
    groups, group_of = {}, {}
    for key, layers in members.items():
        kernels, biases = [], []
        for layer in layers:
            values = weights[layer.name]
            kernel = OPS["conv"].dense_kernel(layer, values[0])
            kernels.append(kernel.reshape(-1, kernel.shape[-1]))
            biases.append(values[1] if len(values) > 1 else np.zeros(values[0].shape[-1], np.float32))
            group_of[layer.name] = key
        groups[key] = (tf.constant(np.concatenate(kernels, axis=1)), tf.constant(np.concatenate(biases)),
                       [layer.name for layer in layers], [k.shape[1] for k in kernels])
    return groups, group_of
