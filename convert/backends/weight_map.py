"""Weight-map backend: how each practice layer's weights correspond to the per-step model's.

Format (version 1), documented in docs/python-api.md:
  {format, version, causalc, spec: {name, file, sha256}, input_channels, window, receptive_field, warmup,
   layers: [{spec_layer, spec_type, practice: {name, class, weights: {kernel: shape, bias: shape}},
             per_step: {...}, transform: "identity" | {kernel: "reshape (k, c, u) -> (k*c, u)", bias: "identity"},
             flatten?: name of the Flatten folded into this layer}]}
Each kind states its own entry (`Kind.weights`); this module lays them out.
"""

from __future__ import annotations

import json
import os

from convert import __version__
from convert.frontend.writer import canonical_sha256
from convert.ir.graph import Graph, GraphLayer
from convert.kinds import input as input_kind

FORMAT = "causalc.weight-map"
VERSION = 1


def _entry(practice: GraphLayer, per_step: GraphLayer, analysis) -> dict:
    plan = practice.plan
    spec_layer = plan.layer
    weights = spec_layer.kind.weights(plan)
    entry = {"spec_layer": spec_layer.name, "spec_type": spec_layer.type,
             "practice": {"name": practice.name, "class": practice.cls, "weights": weights["practice"]},
             "per_step": {"name": per_step.name, "class": per_step.cls, "weights": weights["per_step"]},
             "transform": weights["transform"]}
    source = spec_layer.inputs[0]
    if analysis.tensors[source].folds:  # the Flatten folded into this layer, perhaps behind a Dropout or so
        while analysis.spec.layer(source).type != "Flatten":
            source = analysis.spec.layer(source).inputs[0]
        entry["flatten"] = source
    return entry


def weight_map(practice: Graph, per_step: Graph) -> dict:
    analysis = practice.analysis
    spec = analysis.spec
    by_name = {layer.name: layer for layer in per_step.weighted}
    return {
        "format": FORMAT,
        "version": VERSION,
        "causalc": __version__,
        "spec": {"name": spec.name, "file": os.path.basename(spec.path), "sha256": canonical_sha256(analysis)},
        "input_channels": spec.inputs[0].channels,
        "inputs": [input_kind.describe(node) for node in spec.inputs],
        "window": analysis.window,
        "receptive_field": analysis.receptive_field,
        "warmup": practice.warmup,
        "layers": [_entry(layer, by_name[layer.name], analysis) for layer in practice.weighted],
    }


def weight_map_json(practice: Graph, per_step: Graph) -> str:
    return json.dumps(weight_map(practice, per_step), indent=2) + "\n"
