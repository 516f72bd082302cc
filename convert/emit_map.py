"""Weight-map emitter: how each practice layer's weights correspond to the per-step model's."""

from __future__ import annotations

import json
import os

from convert import __version__
from convert.lower import Practice, PracticeLayer

FORMAT = "causalc.weight-map"
VERSION = 1


def _weights(kernel: list[int], layer: PracticeLayer) -> dict:
    units = layer.step.layer.filters
    return {"kernel": kernel, **({"bias": [units]} if layer.step.layer.use_bias else {})}


def _entry(layer: PracticeLayer, flattens: set[str]) -> dict:
    step = layer.step
    spec_layer = step.layer
    entry = {"spec_layer": spec_layer.name, "spec_type": spec_layer.type,
             "practice": {"name": layer.name, "class": layer.cls, "weights": {}},
             "per_step": {"name": spec_layer.name, "class": spec_layer.type, "weights": {}},
             "transform": "identity"}
    if layer.cls != "Conv1D":
        return entry
    units = spec_layer.filters
    in_channels = step.in_channels
    practice_kernel = [step.kernel, in_channels, units]
    entry["practice"]["weights"] = _weights(practice_kernel, layer)
    per_step_kernel = practice_kernel if spec_layer.kind == "conv" else [step.kernel * in_channels, units]
    entry["per_step"]["weights"] = _weights(per_step_kernel, layer)
    if spec_layer.kind == "dense":
        entry["transform"] = {"kernel": "reshape (k, c, u) -> (k*c, u)", "bias": "identity"}
        if spec_layer.inputs[0] in flattens:
            entry["flatten"] = spec_layer.inputs[0]
    return entry


def weight_map(practice: Practice) -> dict:
    analysis = practice.analysis
    spec = analysis.spec
    flattens = {s.layer.name for s in analysis.steps if s.layer.kind == "flatten"}
    return {
        "format": FORMAT,
        "version": VERSION,
        "causalc": __version__,
        "spec": {"name": spec.name, "file": os.path.basename(spec.path), "sha256": spec.sha256},
        "input_channels": spec.channels,
        "window": analysis.window,
        "receptive_field": analysis.receptive_field,
        "warmup": "causal",
        "layers": [_entry(layer, flattens) for layer in practice.layers],
    }


def weight_map_json(practice: Practice) -> str:
    return json.dumps(weight_map(practice), indent=2) + "\n"
