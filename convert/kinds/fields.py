"""Field readers: each reads one located YAML value, returns it (or None after appending a diagnostic), and
says in JSON Schema what it accepts, so `causalc schema` is derived from the same objects lint uses."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from convert.frontend.diagnostics import Diagnostic
from convert.frontend.source import Node

INT_MAX = 2**31 - 1  # TensorFlow sizes and dilations are 32-bit
CHANNELS_MAX = 65536
REQUIRED = ...  # the default of a field the spec must state
ACTIVATIONS = ("linear", "relu", "relu6", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus",
               "softsign", "swish", "silu", "exponential", "softmax", "log_softmax")


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
    value = _string(node, key, out)
    if value is None:
        return None
    value = value.lower()
    if value == "same":
        out.append(Diagnostic(
            "E200", node.span, "`padding` must be 'valid' in a per-step spec; received 'same'",
            "Remove `padding`. 'same' pads both sides of the window, and in practice those places hold other "
            "time steps' inputs, so no causal network computes it; enlarge the window instead."))
    elif value == "causal":
        out.append(Diagnostic(
            "E201", node.span, "`padding` must be 'valid' in a per-step spec; received 'causal'",
            "Remove `padding`: the per-step network sees a full window, and causalc adds causal padding in practice."))
    elif value != "valid":
        out.append(Diagnostic("E114", node.span, f"`padding` must be 'valid'; received {node.value!r}",
                              "Remove `padding`: per-step layers are unpadded."))
    return None  # padding carries no information once it is 'valid'


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
PADDING = Reader(_padding, {"enum": ["valid"]})
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
PADDING_FIELD = Field(PADDING, None, "Per-step layers are unpadded: only 'valid' is allowed ('same' cannot be "
                      "compiled; causalc adds causal padding in practice).")
ACTIVATION_FIELD = Field(ACTIVATION, "linear", "Keras activation name.")
USE_BIAS_FIELD = Field(BOOLEAN, True, "Whether the layer adds a bias.")
