"""Field readers: each reads one located YAML value, returns it (or None after appending a diagnostic), and
says in JSON Schema what it accepts, so `causalc schema` is derived from the same objects lint uses."""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from convert.core.diagnostics import Diagnostic
from convert.core.located import Node

INT_MAX = 2**31 - 1  # TensorFlow sizes and dilations are 32-bit
CHANNELS_MAX = 65536
REQUIRED = ...  # the default of a field the spec must state
ACTIVATIONS = ("linear", "relu", "relu6", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus",
               "softsign", "swish", "silu", "exponential", "softmax", "log_softmax", "gelu", "leaky_relu", "mish",
               "log_sigmoid", "hard_silu", "square", "log")


class Reader(NamedTuple):
    """Reads a value: `read(node, key, out)`; `schema` is what it accepts."""

    read: Callable[[Node, str, list], Any]
    schema: dict


class Field(NamedTuple):
    """One key of a spec mapping: how to read it, its default (REQUIRED, a value, or a function of the
    values read so far, such as a pool's strides), and what it means."""

    reader: Reader
    default: Any
    description: str

    def default_for(self, values: dict) -> Any:
        return self.default(values) if callable(self.default) else self.default


def describe(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "a mapping", type(None): "null"}
    return names.get(type(value), type(value).__name__) + (f" ({value!r})" if not isinstance(value, (list, dict)) else "")


def wrong(node: Node, key: str, expected: str, out: list, help: str) -> None:
    out.append(Diagnostic("E110", node.span, f"`{key}` must be {expected}; received {describe(node.value)}", help))


def did_you_mean(word: str, choices, otherwise: str) -> str:
    import difflib  # only on the error path

    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"Did you mean `{lowered[close[0]]}`?" if close else otherwise


def positive(limit: int, allow_list: bool = True) -> Reader:
    """A positive integer up to `limit` (Keras's size arguments also take a one-element list)."""
    def read(node: Node, key: str, out: list):
        value = node.value
        if allow_list and isinstance(value, list) and len(value) == 1:
            node = value[0]
            value = node.value
        if isinstance(value, bool) or not isinstance(value, int):
            one = " or a one-element list" if allow_list else ""
            example = f"`{key}: 2`" if key != "channels" else "`channels: 1`"
            wrong(node, key, f"a positive integer{one}", out, f"Write it as {example}.")
            return None
        if not 1 <= value <= limit:
            out.append(Diagnostic("E114", node.span, f"`{key}` must be between 1 and {limit:,}; received {value:,}",
                                  f"Use a positive `{key}` no larger than {limit:,}."))
            return None
        return value

    integer = {"type": "integer", "minimum": 1, "maximum": limit}
    schema = {"anyOf": [integer, {"type": "array", "items": integer, "minItems": 1, "maxItems": 1}]} \
        if allow_list else integer
    return Reader(read, schema)


def _string(node: Node, key: str, out: list):
    if not isinstance(node.value, str):
        wrong(node, key, "a string", out, f"Quote it: `{key}: \"...\"`.")
        return None
    return node.value


def choice(*values: str) -> Reader:
    """One of a few strings."""
    def read(node: Node, key: str, out: list):
        value = _string(node, key, out)
        if value is not None and value not in values:
            out.append(Diagnostic("E114", node.span, f"`{key}` must be one of {', '.join(map(repr, values))}; "
                                  f"received {value!r}", did_you_mean(value, values, f"`{key}: {values[0]}`.")))
            return None
        return value
    return Reader(read, {"enum": list(values)})


def _boolean(node: Node, key: str, out: list):
    if not isinstance(node.value, bool):
        wrong(node, key, "true or false", out, f"`{key}: true`.")
        return None
    return node.value


def _activation(node: Node, key: str, out: list):
    if node.value is None:
        return "linear"
    name = _string(node, key, out)
    if name is None:
        return None
    if name not in ACTIVATIONS:
        out.append(Diagnostic("E120", node.span, f"`{key}` must be a known activation; received {name!r}",
                              did_you_mean(name, ACTIVATIONS, "Use one of: " + ", ".join(ACTIVATIONS) + ".")))
        return None
    return name


def _padding(node: Node, key: str, out: list):
    """'valid', or 'same' for the kind to judge (harmless on a kernel that spans one step); never causal."""
    value = _string(node, key, out)
    if value is None:
        return None
    value = value.lower()
    if value == "same":
        return "same"
    if value == "causal":
        out.append(Diagnostic(
            "E201", node.span, "`padding` must be 'valid' in a per-step spec; received 'causal'",
            "Remove `padding`: the per-step network sees a full window, and causalc adds causal padding in practice."))
    elif value != "valid":
        out.append(Diagnostic("E114", node.span, f"`padding` must be 'valid'; received {node.value!r}",
                              "Remove `padding`: per-step layers are unpadded."))
    return None  # padding carries no information once it is 'valid'


def same_padding(layer, extent: int, stride: int, out: list) -> None:
    """`padding: same` pads nothing when the layer spans one step at stride 1 (a note); otherwise E200."""
    if layer.config.get("padding") != "same" or layer.exact_same:
        return
    span = layer.at("padding")
    if extent == 1 and stride == 1:
        out.append(Diagnostic("N305", span, f"`padding: same` on `{layer.name}` pads nothing: it spans one step at "
                              "stride 1, where 'same' and 'valid' agree", "Remove `padding`; it is compiled as 'valid'."))
        return
    out.append(Diagnostic(
        "E200", span, "`padding` must be 'valid' in a per-step spec; received 'same'",
        "Remove `padding` and enlarge the window, or add `same_padding: exact` at the top of the spec: causalc "
        "then computes Keras's per-window 'same' padding exactly, at a cost `causalc explain` states."))


def number(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Reader:
    """A number in [low, high] (or open at either end), as Keras's float arguments take."""
    def read(node: Node, key: str, out: list):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            wrong(node, key, "a number", out, f"`{key}: 0.5`.")
            return None
        if not math.isfinite(value) or value < low or value > high or (low_open and value == low) or \
                (high_open and value == high):
            shown = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
            out.append(Diagnostic("E114", node.span, f"`{key}` must be in {shown}; received {value!r}",
                                  f"Use a `{key}` in {shown}."))
            return None
        return float(value)

    schema: dict = {"type": "number"}
    schema["exclusiveMinimum" if low_open else "minimum"] = low
    schema["exclusiveMaximum" if high_open else "maximum"] = high
    return Reader(read, schema)


KERAS_OBJECTS = {
    "initializer": ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
                    "zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal", "orthogonal",
                    "identity", "variance_scaling"),
    "regularizer": ("l1", "l2", "l1_l2", "orthogonal_regularizer"),
    "constraint": ("max_norm", "min_max_norm", "non_neg", "unit_norm"),
}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def keras_object(what: str) -> Reader:
    """A Keras initializer, regularizer or constraint: its name, or `{class_name: ..., config: {...}}`."""
    names = KERAS_OBJECTS[what]
    classes = {_camel(n): n for n in names} | {"L1L2": "l1_l2", "GlorotUniform": "glorot_uniform",
                                                 "HeNormal": "he_normal", "HeUniform": "he_uniform"}

    def read(node: Node, key: str, out: list):
        value = node.value
        if isinstance(value, str):
            if value in names or value in classes:
                return value
            out.append(Diagnostic("E114", node.span, f"`{key}` must name a Keras {what}; received {value!r}",
                                  did_you_mean(value, list(names), f"Known: {', '.join(names)}.")))
            return None
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"class_name", "config"})
            name = value.get("class_name")
            if unknown or name is None or not isinstance(name.value, str) or \
                    (name.value not in classes and name.value not in names):
                out.append(Diagnostic("E114", node.span, f"`{key}` must be {{class_name: ..., config: {{...}}}} with a "
                                      f"Keras {what} class", f"`{key}: {{class_name: {_camel(names[0])}, config: {{}}}}`."))
                return None
            config = value.get("config")
            if config is not None and not isinstance(config.value, dict):
                wrong(config, "config", "a mapping", out, "`config: {seed: 1}`.")
                return None
            return {"class_name": name.value, "config": _plain(config) if config is not None else {}}
        wrong(node, key, f"a Keras {what} name or mapping", out, f"`{key}: {names[0]}`.")
        return None

    schema = {"anyOf": [{"enum": [*names, *classes]},
                        {"type": "object", "required": ["class_name"], "additionalProperties": False,
                         "properties": {"class_name": {"enum": [*classes, *names]}, "config": {"type": "object"}}}]}
    return Reader(read, schema)


def _plain(node: Node):
    """A located YAML value as plain Python data."""
    if isinstance(node.value, dict):
        return {key: _plain(child) for key, child in node.value.items()}
    if isinstance(node.value, list):
        return [_plain(child) for child in node.value]
    return node.value


WEIGHT_ARGUMENTS = ("_initializer", "_regularizer", "_constraint")  # the suffixes of `weight_fields`' keys


def weight_fields(weights: tuple[str, ...], kinds=("initializer", "regularizer", "constraint"),
                  activity: bool = True) -> dict[str, Field]:
    """Keras's initializer, regularizer and constraint arguments for the named weights (kernel, bias, ...),
    and the activity regularizer; absent ones keep Keras's defaults."""
    out = {}
    for kind in kinds:
        for weight in weights:
            out[f"{weight}_{kind}"] = Field(keras_object(kind), None, f"Keras {kind} of the `{weight}` weight, carried into "
                                            "both models.")
    if activity:
        out["activity_regularizer"] = Field(keras_object("regularizer"), None, "Keras activity regularizer.")
    return out


def _axis(node: Node, key: str, out: list):
    if node.value not in (-1, 2) or isinstance(node.value, bool):
        out.append(Diagnostic("E114", node.span, f"`axis` must be -1 (channels); received {node.value!r}",
                              "Concatenate along channels: remove `axis` or write `axis: -1`."))
    return None


def _inputs(node: Node, key: str, out: list):
    items = node.value if isinstance(node.value, list) else [node]
    names = []
    for item in items:
        if not isinstance(item.value, str):
            wrong(item, key, "a layer name or a list of names", out, "`inputs: [a, b]`.")
            return None
        names.append((item.value, item))
    if not names:
        out.append(Diagnostic("E118", node.span, "`inputs` is an empty list", "Name at least one layer or `input`."))
        return None
    return tuple(names)


STRING = Reader(_string, {"type": "string"})
BOOLEAN = Reader(_boolean, {"type": "boolean"})
ACTIVATION = Reader(_activation, {"enum": [*ACTIVATIONS, None]})
PADDING = Reader(_padding, {"enum": ["valid", "same"]})  # 'same' needs `same_padding: exact` (or pads nothing)
AXIS = Reader(_axis, {"enum": [-1, 2]})
INPUTS = Reader(_inputs, {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]})
SIZE = positive(INT_MAX)
CHANNELS = positive(CHANNELS_MAX, False)
ANY = Reader(lambda node, key, out: node.value, {})  # read by its own pass

COMMON = {
    "type": Field(STRING, None, "Layer type (Keras class name)."),
    "name": Field(STRING, None, "Unique layer name; the practice layer and its weights carry it."),
    "inputs": Field(INPUTS, None, "Layer name(s) this layer takes, or `input`; default: the layer above."),
}
PADDING_FIELD = Field(PADDING, None, "'valid' (default); 'same' (Keras's rule) with `same_padding: exact` at the top "
                      "of the spec, or where it pads nothing (a kernel spanning one step at stride 1).")
RATE = number(0.0, 1.0, high_open=True)
ACTIVATION_FIELD = Field(ACTIVATION, "linear", "Keras activation name.")
USE_BIAS_FIELD = Field(BOOLEAN, True, "Whether the layer adds a bias.")
