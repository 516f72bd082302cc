"""Weight-map emitter: how each practice layer's weights correspond to the per-step model's.

Format (version 1), documented in the README:
  {format, version, causalc, spec: {name, file, sha256}, input_channels, window, receptive_field, warmup,
   layers: [{spec_layer, spec_type, practice: {name, class, weights: {kernel: shape, bias: shape}},
             per_step: {...}, transform: "identity" | {kernel: "reshape (k, c, u) -> (k*c, u)", bias: "identity"},
             flatten?: name of the Flatten folded into this layer}]}
"""

from __future__ import annotations

import json
import os

from convert import __version__
from convert.lower import Graph, GraphLayer

FORMAT = "causalc.weight-map"
VERSION = 1
RESHAPE = "reshape (k, c, u) -> (k*c, u)"


def _weights(kernel: list[int], layer: GraphLayer) -> dict:
    spec_layer = layer.step.layer
    return {"kernel": kernel, **({"bias": [spec_layer.filters]} if spec_layer.use_bias else {})}


def _entry(practice: GraphLayer, per_step: GraphLayer, flattens: set[str]) -> dict:
    step = practice.step
    spec_layer = step.layer
    kernel = [step.kernel, step.in_channels, spec_layer.filters]
    dense = per_step.cls == "Dense"
    entry = {"spec_layer": spec_layer.name, "spec_type": spec_layer.type,
             "practice": {"name": practice.name, "class": practice.cls, "weights": _weights(kernel, practice)},
             "per_step": {"name": per_step.name, "class": per_step.cls,
                          "weights": _weights([kernel[0] * kernel[1], kernel[2]] if dense else kernel, per_step)},
             "transform": {"kernel": RESHAPE, "bias": "identity"} if dense else "identity"}
    if spec_layer.inputs[0] in flattens:
        entry["flatten"] = spec_layer.inputs[0]
    return entry


def weight_map(practice: Graph, per_step: Graph) -> dict:
    analysis = practice.analysis
    spec = analysis.spec
    by_name = {layer.name: layer for layer in per_step.weighted}
    flattens = {s.layer.name for s in analysis.steps if s.layer.kind == "flatten"}
    return {
        "format": FORMAT,
        "version": VERSION,
        "causalc": __version__,
        "spec": {"name": spec.name, "file": os.path.basename(spec.path), "sha256": spec.sha256},
        "input_channels": spec.channels,
        "window": analysis.window,
        "receptive_field": analysis.receptive_field,
        "warmup": practice.warmup,
        "layers": [_entry(layer, by_name[layer.name], flattens) for layer in practice.weighted],
    }


def weight_map_json(practice: Graph, per_step: Graph) -> str:
    return json.dumps(weight_map(practice, per_step), indent=2) + "\n"
