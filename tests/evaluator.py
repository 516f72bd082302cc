"""An independent NumPy evaluator of the per-step network, written from the semantics stated in docs/spec.md
("The spec" and its "Semantics": widths, grids, alignment, merges), not from the compiler.

It shares no code with `convert`: it reads the spec with plain `yaml.safe_load`, evaluates one window per
row in float64 exactly as the per-step ("in theory") network does, and finds the window by brute force.
A test that registers a new position-wise kind adds its rule to POSITIONWISE.
"""

from __future__ import annotations

import math

import numpy as np
import yaml

POOLS = {"MaxPooling1D": "max", "MaxPool1D": "max", "AveragePooling1D": "avg", "AvgPool1D": "avg"}
MERGES = {"Add", "Multiply", "Concatenate"}
# type -> rule(layer, values (B, n, c), weights) -> values (B, n, c'): kinds that map each position on its own
POSITIONWISE: dict = {}


def _relu(layer, x, weights):
    """Keras's ReLU layer: x from the threshold up (capped at max_value), slope * (x - threshold) below."""
    threshold, slope = layer.get("threshold", 0.0), layer.get("negative_slope", 0.0)
    out = np.where(x >= threshold, x, slope * (x - threshold))
    return out if layer.get("max_value") is None else np.minimum(out, layer["max_value"])


def _prelu(layer, x, weights):
    alpha = weights[layer["name"]][0].astype(np.float64).reshape(-1)  # one per channel
    return np.maximum(x, 0.0) + alpha * np.minimum(x, 0.0)


def _group_normalize(layer, x, weights):
    """Each position's channels in groups, each normalised over its own channels; then gamma and beta."""
    groups, eps = layer.get("groups", 32), layer.get("epsilon", 0.001)
    values = list(weights[layer["name"]]) if layer["name"] in weights else []
    gamma = values.pop(0).astype(np.float64) if layer.get("scale", True) else 1.0
    beta = values.pop(0).astype(np.float64) if layer.get("center", True) else 0.0
    grouped = x.reshape(x.shape[:-1] + (groups, -1))
    mean = grouped.mean(axis=-1, keepdims=True)
    variance = grouped.var(axis=-1, keepdims=True)
    return ((grouped - mean) / np.sqrt(variance + eps)).reshape(x.shape) * gamma + beta


ACTIVATION_LAYERS = {
    "ReLU": _relu,
    "LeakyReLU": lambda layer, x, w: np.where(x >= 0, x, layer.get("negative_slope", 0.3) * x),
    "ELU": lambda layer, x, w: np.where(x > 0, x, layer.get("alpha", 1.0) * np.expm1(np.minimum(x, 0))),
    "Softmax": lambda layer, x, w: _softmax(x),
    "PReLU": _prelu,
}


def _int(value, default=None):
    if value is None:
        return default
    return int(value[0] if isinstance(value, list) else value)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805
ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "swish": lambda x: x / (1.0 + np.exp(-x)),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "exponential": np.exp,
    "softmax": _softmax,
    "log_softmax": lambda x: np.log(_softmax(x)),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
    "log_sigmoid": lambda x: -np.logaddexp(0.0, -x),
    "hard_silu": lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "square": np.square,
    "log": lambda x: np.log(np.maximum(x, 1e-6)),
}
_erf = np.vectorize(math.erf)
GLOBAL_POOLS = {"GlobalAveragePooling1D": np.mean, "GlobalAvgPool1D": np.mean, "GlobalMaxPooling1D": np.max,
                "GlobalMaxPool1D": np.max}
IDENTITY_AT_INFERENCE = {"Dropout", "SpatialDropout1D"}
WINDOWED = {"Conv1D", "DepthwiseConv1D", "SeparableConv1D"}


class Misfit(Exception):
    """The window does not fit the network (too small, misaligned, or output width not 1)."""


def inputs_of(spec: dict) -> list[dict]:
    """The spec's inputs: `inputs:` as written, or `input:` as one named `input`."""
    return [dict(node) for node in spec["inputs"]] if "inputs" in spec else [{"name": "input", **spec["input"]}]


def step_rate(spec: dict, arrays) -> dict:
    """The models' arrays (one per input: (B, T, C) sequences, (B, F, C) frames of a hop input, (B, C)
    global vectors, integers without the C) as every input's values at the step rate, from docs/spec.md:
    step t of a hop input is frame (t+1) // hop (the last frame past the end); a global input is the same
    at every step. A global input stays one vector here (`evaluate` broadcasts it)."""
    nodes = inputs_of(spec)
    arrays = dict(zip([n["name"] for n in nodes], arrays if isinstance(arrays, (list, tuple)) else [arrays]))
    steps = next(np.asarray(arrays[n["name"]]).shape[1] for n in nodes if not n.get("hop") and not n.get("global"))
    out = {}
    for node in nodes:
        value = np.asarray(arrays[node["name"]])
        if node.get("hop"):
            frames = [min((t + 1) // node["hop"], value.shape[1] - 1) for t in range(steps)]
            value = value[:, frames]
        out[node["name"]] = value
    return out


def _input_values(spec: dict, windows, window: int | None) -> dict:
    """name -> (values (B, W, C), grid) of every input for a batch of windows; a categorical input as its
    one-hot vectors, with its integers under `name + "#"` (what an Embedding reads)."""
    nodes = inputs_of(spec)
    if not isinstance(windows, dict):
        windows = {nodes[0]["name"]: windows}
    width = window or next(np.asarray(windows[n["name"]]).shape[1] for n in nodes if not n.get("global"))
    x = {}
    for node in nodes:
        value = np.asarray(windows[node["name"]])
        if node.get("global"):
            value = np.repeat(value[:, None], width, axis=1)
        if node.get("categories"):
            x[node["name"] + "#"] = (value.astype(np.int64), 1)
            value = np.eye(node["categories"])[value.astype(np.int64)]
        x[node["name"]] = (np.asarray(value, dtype=np.float64), 1)
    return x


def layers_of(spec: dict) -> list[dict]:
    """The spec's layers with `inputs` made explicit (a layer without it takes the one above)."""
    out, previous = [], inputs_of(spec)[0]["name"]
    for layer in spec["layers"]:
        layer = dict(layer)
        inputs = layer.get("inputs", previous)
        layer["inputs"] = [inputs] if isinstance(inputs, str) else list(inputs)
        out.append(layer)
        previous = layer["name"]
    return out


def _geometry(layer: dict) -> tuple[int, int, int]:
    """(span, stride, dilation) of a conv or pool."""
    if layer["type"] in POOLS:
        pool = _int(layer.get("pool_size"), 2)
        return pool, _int(layer.get("strides"), pool), 1
    k, d = _int(layer["kernel_size"]), _int(layer.get("dilation_rate"), 1)  # a convolution
    return (k - 1) * d + 1, _int(layer.get("strides"), 1), d


def evaluate(spec: dict, weights: dict, windows: np.ndarray | None, window: int | None = None,
             trace: dict | None = None) -> np.ndarray:
    """Per-step outputs for a batch of windows (B, W, C) -> (B, units), float64; with several inputs, a dict
    of each input's window at the step rate ((B, W, C), integers (B, W), a global input's (B, C) or (B,)).

    `weights[name]` is [kernel (k, c_in, u), bias?] as the practice Conv1D holds them. With `windows`
    None, only widths are computed for `window` (raises Misfit when it does not fit).
    """
    shape_only = windows is None
    if shape_only:
        windows = {n["name"]: np.zeros((1,) + (() if n.get("global") else (window,))
                                       + (() if n.get("categories") else (n["channels"],)))
                   for n in inputs_of(spec)}
    x = _input_values(spec, windows, window)  # name -> (values (B, n, c), grid)
    output = spec.get("output", spec["layers"][-1]["name"])
    layers = layers_of(spec)
    needed = {output}
    for layer in reversed(layers):
        if layer["name"] in needed:
            needed.update(layer["inputs"])
    for layer in layers:
        if layer["name"] not in needed and not shape_only:
            continue  # a layer the output does not use has no weights in the practice model
        kind = layer["type"]
        value, grid = x[layer["inputs"][0]]
        n = value.shape[1]
        if kind in WINDOWED or kind in POOLS:
            span, stride, dilation = _geometry(layer)
            same = layer.get("padding") == "same"
            if same:  # Keras: ceil(n / stride) outputs, total // 2 zeros on the left; the newest may be left over
                value, n = _same(value, span, stride, kind in POOLS)
            if n < span or (n - span) % stride and not same:
                raise Misfit(f"{layer['name']}: width {n}, span {span}, stride {stride}")
            m = (n - span) // stride + 1
            if kind in WINDOWED:
                k = _int(layer["kernel_size"])
                taps = [value[:, i * dilation: i * dilation + (m - 1) * stride + 1: stride] for i in range(k)]
                out = _convolve(kind, layer, taps, weights, shape_only)
            else:
                taps = np.stack([value[:, i: i + (m - 1) * stride + 1: stride] for i in range(span)])
                out = np.nanmax(taps, axis=0) if POOLS[kind] == "max" else np.nanmean(taps, axis=0)
            x[layer["name"]] = (out, grid * stride)
        elif kind == "ZeroPadding1D":
            pad = layer.get("padding", 1)
            left, right = (pad, pad) if isinstance(pad, int) else pad
            x[layer["name"]] = (np.pad(value, [(0, 0), (left, right), (0, 0)]), grid)
        elif kind == "Cropping1D":
            crop = layer.get("cropping", 1)
            oldest, newest = (crop, crop) if isinstance(crop, int) else crop
            if n - oldest - newest < 1:
                raise Misfit(f"{layer['name']}: width {n} cropped by {oldest + newest}")
            x[layer["name"]] = (value[:, oldest:n - newest], grid)
        elif kind == "Flatten":
            x[layer["name"]] = (value.reshape(value.shape[0], 1, -1), grid)
        elif kind == "Dense":
            if shape_only:
                out = np.zeros(value.shape[:2] + (layer["units"],))
            else:
                kernel = weights[layer["name"]][0].astype(np.float64)
                kernel = kernel.reshape(-1, kernel.shape[-1])  # row-major: (k, c, u) -> (k*c, u)
                out = _bias_act(value @ kernel, layer, weights)
            x[layer["name"]] = (out, grid)
        elif kind == "Activation":
            x[layer["name"]] = (value if shape_only else ACTIVATIONS[layer["activation"]](value), grid)
        elif kind in IDENTITY_AT_INFERENCE:
            x[layer["name"]] = (value, grid)
        elif kind == "Embedding":
            ints, _ = x[layer["inputs"][0] + "#"]
            out = np.zeros(ints.shape + (layer["output_dim"],)) if shape_only else \
                weights[layer["name"]][0].astype(np.float64)[ints]
            x[layer["name"]] = (out, grid)
        elif kind in ACTIVATION_LAYERS:
            x[layer["name"]] = (value if shape_only else ACTIVATION_LAYERS[kind](layer, value, weights), grid)
        elif kind == "Rescaling":
            x[layer["name"]] = (value * layer["scale"] + layer.get("offset", 0.0), grid)
        elif kind == "GroupNormalization":
            x[layer["name"]] = (value if shape_only else _group_normalize(layer, value, weights), grid)
        elif kind in ("BatchNormalization", "LayerNormalization"):
            x[layer["name"]] = (value if shape_only else _normalize(kind, layer, value, weights), grid)
        elif kind in GLOBAL_POOLS:
            x[layer["name"]] = (GLOBAL_POOLS[kind](value, axis=1, keepdims=True), grid)
        elif kind in POSITIONWISE:
            x[layer["name"]] = (value if shape_only else POSITIONWISE[kind](layer, value, weights), grid)
        elif kind in MERGES:
            parts = [x[name] for name in layer["inputs"]]
            coarsest = max(g for _, g in parts)
            kept = []
            for v, g in parts:
                assert coarsest % g == 0
                r = coarsest // g
                kept.append(v[:, (v.shape[1] - 1) % r:: r])  # every r-th position counted back from the newest
            width = min(v.shape[1] for v in kept)
            kept = [v[:, v.shape[1] - width:] for v in kept]  # drop the oldest
            if kind == "Add":
                out = sum(kept)
            elif kind == "Multiply":
                out = math.prod(kept)
            else:
                out = np.concatenate(kept, axis=-1)
            x[layer["name"]] = (out, coarsest)
        else:
            raise ValueError(f"unknown layer type {kind}")
    if trace is not None:
        trace.update({name: (value.shape[1], grid) for name, (value, grid) in x.items()})
    value, _ = x[output]
    if value.shape[1] != 1:
        raise Misfit(f"output width {value.shape[1]}")
    return value[:, 0, :]


def _same(value: np.ndarray, span: int, stride: int, pool: bool) -> tuple[np.ndarray, int]:
    """A window's values padded as Keras's 'same' does: pools ignore the padding (NaN, skipped by nanmax and
    nanmean), convolutions see zeros."""
    n = value.shape[1]
    out = -(-n // stride)
    total = max((out - 1) * stride + span - n, 0)
    fill = np.nan if pool else 0.0
    padded = np.pad(value, [(0, 0), (total // 2, total - total // 2), (0, 0)], constant_values=fill)
    return padded, padded.shape[1]


def _convolve(kind: str, layer: dict, taps: list, weights: dict, shape_only: bool) -> np.ndarray:
    """Conv1D (with groups), DepthwiseConv1D or SeparableConv1D over taps[i] (B, m, c), oldest tap first."""
    batch, m, channels = taps[0].shape
    multiplier = _int(layer.get("depth_multiplier"), 1)
    units = layer["filters"] if kind != "DepthwiseConv1D" else channels * multiplier
    if shape_only:
        return np.zeros((batch, m, units))
    values = [w.astype(np.float64) for w in weights[layer["name"]]]
    if kind == "Conv1D":
        groups = layer.get("groups", 1)
        kernel, per_group, out_per_group = values[0], channels // groups, units // groups
        out = np.concatenate([sum(np.einsum("bnc,cu->bnu", tap[..., g * per_group:(g + 1) * per_group],
                                            kernel[i][:, g * out_per_group:(g + 1) * out_per_group])
                                  for i, tap in enumerate(taps)) for g in range(groups)], axis=-1)
    else:  # depthwise: input channel c gives outputs c * multiplier + j
        depthwise = sum(np.einsum("bnc,cj->bncj", tap, values[0][i]) for i, tap in enumerate(taps))
        out = depthwise.reshape(batch, m, channels * multiplier)
        if kind == "SeparableConv1D":
            out = out @ values[1][0]
    if layer.get("use_bias", True):
        out = out + values[-1]
    return ACTIVATIONS[layer.get("activation") or "linear"](out)


def _normalize(kind: str, layer: dict, value: np.ndarray, weights: dict) -> np.ndarray:
    """Inference-mode normalisation over channels, with Keras's weight order: gamma, beta, then statistics."""
    values = [w.astype(np.float64) for w in weights.get(layer["name"], [])]  # none without scale and center
    epsilon = layer.get("epsilon", 0.001)
    gamma = values.pop(0) if layer.get("scale", True) else 1.0
    beta = values.pop(0) if layer.get("center", True) else 0.0
    if kind == "BatchNormalization":
        mean, variance = values
    else:
        mean, variance = value.mean(axis=-1, keepdims=True), value.var(axis=-1, keepdims=True)
    return (value - mean) / np.sqrt(variance + epsilon) * gamma + beta


def _bias_act(out: np.ndarray, layer: dict, weights: dict) -> np.ndarray:
    if layer.get("use_bias", True):
        out = out + weights[layer["name"]][1].astype(np.float64)
    return ACTIVATIONS[layer.get("activation") or "linear"](out)


def fits(spec: dict, window: int) -> bool:
    try:
        evaluate(spec, {}, None, window)
        return True
    except Misfit:
        return False


def window_of(spec: dict, limit: int = 1 << 14) -> int:
    """The spec's window, or by brute force the smallest that fits."""
    stated = [node["window"] for node in inputs_of(spec) if node.get("window") is not None]
    if stated:
        return stated[0]
    return next(w for w in range(1, limit) if fits(spec, w))


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def per_step_over_sequence(spec: dict, weights: dict, x, window: int) -> np.ndarray:
    """Evaluate every window of x (B, T, C) ending at t = W-1 .. T-1: returns (B, T-W+1, units). With
    several inputs, x is the list of the models' arrays (see `step_rate`)."""
    signal = (list(x) if isinstance(x, (list, tuple)) else [x])[signal_index(spec)]
    ends = list(range(window - 1, signal.shape[1]))
    return evaluate(spec, weights, windows_ending(spec, x, ends, window)).reshape(signal.shape[0], len(ends), -1)


def windows_ending(spec: dict, x, ends, window: int, pad: int = 0) -> dict:
    """Each input's windows ending at steps `ends` of the sequence (after `pad` zeros, category 0, in front of
    every step-rate input: the exact warm-up), batch-major: {name: (B * len(ends), W, ...)}; a global
    input's vector repeated per window."""
    values = step_rate(spec, x)
    out = {}
    for node in inputs_of(spec):
        value = values[node["name"]]
        if node.get("global"):
            out[node["name"]] = np.repeat(value, len(ends), axis=0)
            continue
        value = np.concatenate([np.zeros((value.shape[0], pad) + value.shape[2:], value.dtype), value], axis=1)
        cut = np.stack([value[:, pad + t - window + 1: pad + t + 1] for t in ends], axis=1)
        out[node["name"]] = cut.reshape((-1, window) + cut.shape[3:])
    return out


def _reads(layer: dict, position: int, in_width: int, out_width: int, in_grid: int, grid: int) -> list[int]:
    """Positions of an input that output `position` of a layer depends on, from the semantics."""
    kind = layer["type"]
    if kind in WINDOWED or kind in POOLS:
        span, stride, dilation = _geometry(layer)
        left = 0
        if layer.get("padding") == "same":
            total = max((-(-in_width // stride) - 1) * stride + span - in_width, 0)
            left = total // 2
        start = position * stride - left
        return [q for q in range(start, start + span, dilation) if 0 <= q < in_width]
    if kind == "ZeroPadding1D":
        pad = layer.get("padding", 1)
        q = position - (pad if isinstance(pad, int) else pad[0])
        return [q] if 0 <= q < in_width else []
    if kind == "Cropping1D":
        crop = layer.get("cropping", 1)
        return [position + (crop if isinstance(crop, int) else crop[0])]
    if kind == "Flatten" or kind in GLOBAL_POOLS:
        return list(range(in_width))
    if kind in MERGES:
        back = (out_width - 1 - position) * (grid // in_grid)
        return [in_width - 1 - back]
    return [position]


def influence(spec: dict, window: int) -> set[tuple[str, str, int, int]]:
    """Per-step connections (layer, input, from step, to step) through which the window reaches the
    output; a position sits at the newest step it sees."""
    return _trace(spec, window)[1]


def reached_positions(spec: dict, window: int) -> dict[str, set[int]]:
    """For every tensor the output depends on, the positions (oldest first) it depends on."""
    return _trace(spec, window)[0]


def _trace(spec: dict, window: int):
    shapes: dict = {}
    evaluate(spec, {}, None, window, trace=shapes)
    output = spec.get("output", spec["layers"][-1]["name"])

    def step(name, position):
        width, grid = shapes[name]
        return window - 1 - (width - 1 - position) * grid

    reached = {output: set(range(shapes[output][0]))}
    edges = set()
    for layer in reversed(layers_of(spec)):
        for name in layer["inputs"]:
            for position in reached.get(layer["name"], ()):
                for q in _reads(layer, position, shapes[name][0], shapes[layer["name"]][0], shapes[name][1],
                                shapes[layer["name"]][1]):
                    reached.setdefault(name, set()).add(q)
                    edges.add((layer["name"], name, step(name, q), step(layer["name"], position)))
    return reached, edges


def practice_influence(spec: dict, window: int, last: int) -> set[tuple[str, str, int, int]]:
    """Practice connections into output step `last`: a layer of kernel k at practice dilation D reads its
    input at last - j*D; a Flatten + Dense head reads the flattened sequence with kernel = its width."""
    shapes: dict = {}
    evaluate(spec, {}, None, window, trace=shapes)
    output = spec.get("output", spec["layers"][-1]["name"])
    layers = layers_of(spec)
    flattened = {l["name"]: l["inputs"][0] for l in layers if l["type"] == "Flatten"}
    folded = {}  # tensors that are a flattened sequence: the Flatten's, and those of value-by-value layers after it
    for layer in layers:
        source = layer["inputs"][0]
        if layer["type"] == "Flatten":
            folded[layer["name"]] = shapes[source]
        elif source in folded and layer["type"] != "Dense":
            folded[layer["name"]] = folded[source]
    needed = {output: {last}}
    edges = set()
    for layer in reversed(layers):
        if layer["name"] in flattened:
            continue
        for name in layer["inputs"]:
            source = flattened.get(name, name)  # in practice a Flatten is no layer: its input is read
            if layer["type"] in WINDOWED or layer["type"] in POOLS:
                span, _, dilation = _geometry(layer)
                taps = [(span - 1 - j) * shapes[source][1] for j in range(0, span, dilation)]
            elif layer["type"] == "Dense" and name in folded:
                width, grid = folded[name]
                taps = [(width - 1 - j) * grid for j in range(width)]
            elif layer["type"] in GLOBAL_POOLS:
                width, grid = shapes[source]
                taps = [(width - 1 - j) * grid for j in range(width)]
            else:
                taps = [0]
            for t in needed.get(layer["name"], ()):
                for back in taps:
                    needed.setdefault(source, set()).add(t - back)
                    if t - back >= 0:
                        edges.add((layer["name"], source, t - back, t))
    return edges


def random_inputs(spec: dict, steps: int, batch: int = 2, seed: int = 0):
    """Random arrays as the practice model takes them, `steps` long: one array for a spec of one input,
    else a list in spec order (frames covering the steps for a hop input, one vector per sequence for a
    global one, integers for a categorical one)."""
    rng = np.random.default_rng(seed)
    out = []
    for node in inputs_of(spec):
        middle = () if node.get("global") else (steps // node["hop"] + 1,) if node.get("hop") else (steps,)
        if node.get("categories"):
            out.append(rng.integers(0, node["categories"], size=(batch,) + middle).astype(np.int32))
        else:
            out.append(rng.normal(size=(batch,) + middle + (node["channels"],)).astype(np.float32))
    return out[0] if len(out) == 1 else out


def signal_index(spec: dict) -> int:
    """The first sequence input: the one generation feeds back."""
    return next(i for i, node in enumerate(inputs_of(spec)) if not node.get("hop") and not node.get("global"))


def changed(spec: dict, x, step: int, amount: float = 10.0):
    """A copy of the inputs with the signal changed at `step` (a float signal by `amount`, categories moved on)."""
    arrays = [np.array(a) for a in (x if isinstance(x, list) else [x])]
    node, value = inputs_of(spec)[signal_index(spec)], arrays[signal_index(spec)]
    if node.get("categories"):
        value[:, step] = (value[:, step] + 1 + int(abs(amount))) % node["categories"]
    else:
        value[:, step] += amount
    return arrays if isinstance(x, list) else arrays[0]


def with_window(spec: dict, window: int | None) -> dict:
    """The spec with the window stated on its signal (removed when None)."""
    spec = dict(spec)
    key = "inputs" if "inputs" in spec else "input"
    nodes = [dict(n) for n in (spec["inputs"] if key == "inputs" else [spec["input"]])]
    target = nodes[signal_index(spec)]
    target.pop("window", None)
    if window is not None:
        target["window"] = window
    spec[key] = nodes if key == "inputs" else nodes[0]
    return spec


def at_step(spec: dict, x, t: int):
    """Each input's value at step t, as a stream's `step` takes it (a hop input's frame for the step)."""
    values = step_rate(spec, x)
    out = [values[n["name"]] if n.get("global") else values[n["name"]][:, t] for n in inputs_of(spec)]
    return out if len(out) > 1 else out[0]


def part(spec: dict, x, start: int, stop: int):
    """Steps start..stop-1 of the step-rate inputs; frames and global vectors whole (the stream reads them
    from the sequence's first step)."""
    out = [v if n.get("hop") or n.get("global") else v[:, start:stop] for n, v in zip(inputs_of(spec), listed(x))]
    return out if len(out) > 1 else out[0]


def listed(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]
