"""Folding BatchNormalization into the convolution before it, for inference and export.

In inference a BatchNormalization is y = a * x + b per channel (a = gamma / sqrt(variance + epsilon),
b = beta - a * mean). After a convolution with a linear activation whose output feeds nothing else, the
convolution can compute a * conv(x) + b itself: its kernel scaled per output channel, its bias a * bias + b.
The result is the practice model of a spec without those BatchNormalization layers.
"""

from __future__ import annotations

import keras
import numpy as np

from convert.core.errors import BadValue, InternalError
from convert.core.records import replace
from convert.frontend.spec import Layer
from convert.frontend.writer import spec_text
from convert.pipeline import check_text
from convert.runtime import api
from convert.runtime.compare import relative_error

FOLDS_INTO = ("Conv1D", "Dense", "DepthwiseConv1D", "SeparableConv1D")


def foldable(analysis) -> dict[str, str]:
    """BatchNormalization name -> the convolution it folds into."""
    spec = analysis.spec
    users: dict[str, int] = {}
    for layer in spec.layers:
        for name in layer.inputs:
            users[name] = users.get(name, 0) + 1
    by_name = {layer.name: layer for layer in spec.layers}
    out = {}
    for plan in analysis.plans:
        layer = plan.layer
        source = by_name.get(layer.inputs[0])
        if layer.type == "BatchNormalization" and plan.used and source is not None and source.type in FOLDS_INTO \
                and source.config.get("activation") == "linear" and users[source.name] == 1 and source.name != spec.output:
            out[layer.name] = source.name
    return out


def _affine(values: list[np.ndarray], bn: Layer) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of a BatchNormalization's inference form y = a * x + b."""
    values = [v.astype(np.float64) for v in values]
    gamma = values.pop(0) if bn.config["scale"] else 1.0
    beta = values.pop(0) if bn.config["center"] else 0.0
    mean, variance = values
    a = gamma / np.sqrt(variance + bn.config["epsilon"])
    return a, beta - a * mean


def _folded_weights(conv: Layer, values: list[np.ndarray], a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """The convolution's weights with the affine map applied after it; it gains a bias if it had none."""
    values = [v.astype(np.float64) for v in values]
    bias = values[-1] if conv.config["use_bias"] else 0.0
    if conv.type == "DepthwiseConv1D":
        kernel = values[0] * a.reshape(values[0].shape[1:])
        return [kernel.astype(np.float32), (bias * a + b).astype(np.float32)]
    if conv.type == "SeparableConv1D":
        return [values[0].astype(np.float32), (values[1] * a).astype(np.float32), (bias * a + b).astype(np.float32)]
    return [(values[0] * a).astype(np.float32), (bias * a + b).astype(np.float32)]


def fold_batchnorm(model: keras.Model, spec, path: str, warmup: str = "causal") -> tuple[str, keras.Model, list[str]]:
    """(the folded spec's YAML text, to be saved at `path`; its practice model holding the folded weights; the
    folded BatchNormalization layers)."""
    analysis = api.load(spec)
    folds = foldable(analysis)
    weights = api.practice_weights(model, analysis)
    renamed = dict(folds)  # what named a folded BatchNormalization names its convolution
    layers = []
    for layer in analysis.spec.layers:
        if layer.name in folds:
            continue
        inputs = tuple(renamed.get(name, name) for name in layer.inputs)
        config = {**layer.config, "use_bias": True} if layer.name in folds.values() else layer.config
        layers.append(replace(layer, inputs=inputs, config=config))
    output = renamed.get(analysis.spec.output, analysis.spec.output)
    spec_out = replace(analysis.spec, name=f"{analysis.spec.name}-folded", output=output, path=path)
    header = (f"{analysis.spec.name} with {len(folds)} BatchNormalization layer(s) folded into the convolution before "
              f"each ({', '.join(folds) or 'none'}), written by causalc fold-batchnorm.")
    text = spec_text(spec_out, layers, header)
    checked = check_text(text, path)
    if not checked.ok:  # the writer's output must read back: a bug in causalc, not in the spec
        raise InternalError(f"the folded spec does not check: {checked.diagnostics}")
    folded_analysis = checked.analysis
    folded = api.practice_model(folded_analysis, warmup)
    by_conv = {conv: bn for bn, conv in folds.items()}
    for entry in api.weight_map(folded_analysis, warmup)["layers"]:
        name = entry["practice"]["name"]
        values = weights[name]
        if name in by_conv:
            bn = analysis.spec.layer(by_conv[name])
            values = _folded_weights(analysis.spec.layer(name), values, *_affine(weights[bn.name], bn))
        folded.get_layer(name).set_weights(values)
    return text, folded, list(folds)


def fold_checked(model: keras.Model, spec, path: str, warmup: str = "causal") -> tuple[str, keras.Model, list[str], float]:
    """`fold_batchnorm`, and the largest relative difference of the folded model's outputs from `model`'s on
    random inputs: folding is exact up to float32 rounding, so anything above 1e-5 is a bug (BadValue), never
    a model to write."""
    from convert.runtime.conditioning import random_arrays

    analysis = api.load(spec)
    text, folded, names = fold_batchnorm(model, analysis, path, warmup)
    x = random_arrays(analysis.spec.inputs, analysis.window + 64)
    x = x[0] if len(x) == 1 else x
    want, got = np.asarray(model(x), np.float64), np.asarray(folded(x), np.float64)
    error = relative_error(got, want)
    if error > 1e-5:
        raise BadValue(f"the folded model differs from the model by {error:.2e} (relative); nothing written")
    return text, folded, names, error
