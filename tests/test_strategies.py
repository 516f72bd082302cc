"""How often the spec generator reaches each path the compiler has (TensorFlow-free): a path drawn too
rarely is a path the property tests do not really test."""

from __future__ import annotations

import collections

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convert.analysis.shapes import fitting_windows
from convert.pipeline import check
from strategies import ACTIVATIONS, POOLS, spec_dicts

DRAWS = 200
# the least share of valid draws that must reach each path (measured shares are in docs/development.md)
MINIMUM = {"shared ring, different reaches": 0.15, "window > receptive field": 0.05, "layers after a Flatten head": 0.05,
           "merge of flattened tensors": 0.04, "Flatten head": 0.3, "merge across grids": 0.2, "pooling": 0.25,
           "global pooling": 0.08, "depthwise or separable": 0.2, "grouped convolution": 0.05,
           "normalisation": 0.15, "dropout or rescaling": 0.15, "activation layer": 0.1,
           "crop": 0.03}


KINDS_FOUND = {"global pooling": ("GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalAvgPool1D", "GlobalMaxPool1D"),
               "depthwise or separable": ("DepthwiseConv1D", "SeparableConv1D"),
               "normalisation": ("BatchNormalization", "LayerNormalization"),
               "dropout or rescaling": ("Dropout", "SpatialDropout1D", "Rescaling"),
               "activation layer": ("ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU"),
               "crop": ("Cropping1D",)}


def _extent(layer: dict) -> int:
    if layer["type"] in POOLS:
        return layer["pool_size"]
    return (layer["kernel_size"] - 1) * layer.get("dilation_rate", 1) + 1


def features(spec: dict, window_choice: int, tmp_path) -> set[str]:
    """The paths one generated spec (with the window the property tests would pick) reaches."""
    layers = {layer["name"]: layer for layer in spec["layers"]}
    found = set()
    readers = collections.defaultdict(set)
    for layer in spec["layers"]:
        if layer["type"] in ("Conv1D", "DepthwiseConv1D", "SeparableConv1D") or layer["type"] in POOLS:
            readers[layer["inputs"]].add(_extent(layer))
        if layer["type"] in POOLS:
            found.add("pooling")
        found |= {name for name, types in KINDS_FOUND.items() if layer["type"] in types}
        if layer.get("groups", 1) > 1:
            found.add("grouped convolution")
    if any(len(extents) > 1 for extents in readers.values()):
        found.add("shared ring, different reaches")
    flattened = {n for n, layer in layers.items() if layer["type"] == "Flatten"}
    heads = {n for n, layer in layers.items() if layer["type"] == "Dense" and layer["inputs"] in flattened}
    if flattened:
        found.add("Flatten head")
    for layer in spec["layers"]:
        inputs = [layer["inputs"]] if isinstance(layer["inputs"], str) else layer["inputs"]
        if any(n in heads for n in inputs) and layer["type"] != "Dense":
            found.add("layers after a Flatten head")
        if layer["type"] in ("Add", "Multiply", "Concatenate") and all(n in heads for n in inputs):
            found.add("merge of flattened tensors")
    path = tmp_path / "drawn.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    checked = check(str(path))
    if not checked.ok:
        return {"rejected (E207)"}
    windows = fitting_windows(checked.analysis.spec, limit=6)
    window = windows[window_choice % len(windows)]
    if window != checked.analysis.window:  # as the property tests do: state a larger window that fits
        path.write_text(yaml.safe_dump({**spec, "input": {**spec["input"], "window": window}}, sort_keys=False))
        checked = check(str(path))
    if checked.analysis.window > checked.analysis.receptive_field:
        found.add("window > receptive field")
    if any(len({checked.analysis.tensors[n].grid for n in ([l["inputs"]] if isinstance(l["inputs"], str) else l["inputs"])}) > 1
           for l in spec["layers"] if l["type"] in ("Add", "Multiply", "Concatenate")):
        found.add("merge across grids")
    found |= {f"activation {layer.get('activation')}" for layer in spec["layers"] if layer.get("activation")}
    return found


def test_generator_reaches_every_path(tmp_path):
    drawn: list[set[str]] = []

    @settings(max_examples=DRAWS, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(spec=spec_dicts(), choice=st.integers(0, 5))
    def draw(spec, choice):
        drawn.append(features(spec, choice, tmp_path))

    draw()
    valid = [f for f in drawn if "rejected (E207)" not in f]
    share = {name: sum(name in f for f in valid) / len(valid) for name in MINIMUM}
    low = {name: round(share[name], 3) for name, least in MINIMUM.items() if share[name] < least}
    print({name: f"{value:.0%}" for name, value in share.items()}, f"valid {len(valid) / len(drawn):.0%}")
    assert low == {}, (low, share)
    assert len(valid) / len(drawn) > 0.6
    seen = set().union(*valid)
    assert {f"activation {a}" for a in ACTIVATIONS} <= seen
