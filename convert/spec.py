"""The spec IR (frozen dataclasses) and its construction from located YAML, with every structural check."""

from __future__ import annotations

import heapq
import re
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from convert.diagnostics import Diagnostic, Span
from convert.source import Node

INT_MAX = 2**31 - 1  # TensorFlow sizes and dilations are 32-bit
CHANNELS_MAX = 65536

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # file stems and Keras layer names: no '/', no leading '.'
MERGES = ("Add", "Multiply", "Concatenate")
POOLS = ("MaxPooling1D", "AveragePooling1D")
TYPE_ALIASES = {"MaxPool1D": "MaxPooling1D", "AvgPool1D": "AveragePooling1D"}
ACTIVATIONS = ("linear", "relu", "relu6", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus",
               "softsign", "swish", "silu", "exponential", "softmax", "log_softmax")


@dataclass(frozen=True)
class Layer:
    """One per-step layer as the spec states it, with the spans of its fields."""

    name: str
    type: str  # canonical Keras class name
    inputs: tuple[str, ...]
    filters: int = 0  # Conv1D filters or Dense units
    kernel_size: int = 1
    strides: int = 1
    dilation_rate: int = 1
    pool_size: int = 1
    activation: str = "linear"
    use_bias: bool = True
    source: Node | None = field(default=None, compare=False, repr=False)  # the layer's YAML mapping
    input_nodes: tuple = field(default=(), compare=False, repr=False)  # where each input is named

    @property
    def kind(self) -> str:
        """conv, pool, flatten, dense, merge or activation."""
        if self.type in MERGES:
            return "merge"
        if self.type in POOLS:
            return "pool"
        return {"Conv1D": "conv", "Flatten": "flatten", "Dense": "dense", "Activation": "activation"}[self.type]

    @property
    def span_of_kernel(self) -> int:
        """Steps of its input one output position covers: (k-1)d+1 for a conv, the pool size for a pool."""
        if self.kind == "conv":
            return (self.kernel_size - 1) * self.dilation_rate + 1
        return self.pool_size if self.kind == "pool" else 1

    @property
    def span(self) -> Span:
        return self.source.span

    def at(self, key: str) -> Span:
        """Where the value of `key` stands, or the layer itself when the key is absent."""
        entry = self.source.value.get(key)
        return entry.span if entry is not None else self.span

    def key_at(self, key: str) -> Span:
        entry = self.source.value.get(key)
        return entry.where if entry is not None else self.span

    def input_spans(self) -> list[Span]:
        return [node.span for node in self.input_nodes]


@dataclass(frozen=True)
class Spec:
    """A whole per-step network: its input, its layers in dependency order and its output."""

    name: str
    path: str
    channels: int
    window: int | None
    layers: tuple[Layer, ...]
    output: str
    text: str = field(default="", compare=False, repr=False)  # the file as read
    spans: dict[str, Span] = field(default_factory=dict, compare=False, hash=False)

    @property
    def sha256(self) -> str:
        import hashlib  # only the emitters need the hash

        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)

    def at(self, key: str) -> Span:
        return self.spans.get(key, Span(self.path, 1, 1))


# ---- field readers: each returns the value or appends a diagnostic and returns None ----

Reader = Callable[[Node, str, list], Any]


def _describe(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "a mapping", type(None): "null"}
    return names.get(type(value), type(value).__name__) + (f" ({value!r})" if not isinstance(value, (list, dict)) else "")


def _wrong(node: Node, key: str, expected: str, out: list, help: str) -> None:
    out.append(Diagnostic("E110", node.span, f"`{key}` must be {expected}; received {_describe(node.value)}", help))


def _positive(limit: int, allow_list: bool = True) -> Reader:
    def read(node: Node, key: str, out: list):
        value = node.value
        if allow_list and isinstance(value, list) and len(value) == 1:
            node = value[0]
            value = node.value
        if isinstance(value, bool) or not isinstance(value, int):
            one = " or a one-element list" if allow_list else ""
            example = f"`{key}: 2`" if key != "channels" else "`channels: 1`"
            _wrong(node, key, f"a positive integer{one}", out, f"Write it as {example}.")
            return None
        if not 1 <= value <= limit:
            out.append(Diagnostic("E114", node.span, f"`{key}` must be between 1 and {limit:,}; received {value:,}",
                                  f"Use a positive `{key}` no larger than {limit:,}."))
            return None
        return value
    read.limit, read.allow_list = limit, allow_list  # what `causalc schema` says of the field
    return read


def _string(node: Node, key: str, out: list):
    if not isinstance(node.value, str):
        _wrong(node, key, "a string", out, f"Quote it: `{key}: \"...\"`.")
        return None
    return node.value


def _boolean(node: Node, key: str, out: list):
    if not isinstance(node.value, bool):
        _wrong(node, key, "true or false", out, f"`{key}: true`.")
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
                              _did_you_mean(name, ACTIVATIONS, "Use one of: " + ", ".join(ACTIVATIONS) + ".")))
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
            _wrong(item, key, "a layer name or a list of names", out, "`inputs: [a, b]`.")
            return None
        names.append((item.value, item))
    if not names:
        out.append(Diagnostic("E118", node.span, "`inputs` is an empty list", "Name at least one layer or `input`."))
        return None
    return tuple(names)


_INT = _positive(INT_MAX)
COMMON_FIELDS = {"type": (_string, None), "name": (_string, None), "inputs": (_inputs, None)}
_CONV = {"filters": (_positive(CHANNELS_MAX, False), ...), "kernel_size": (_INT, ...), "strides": (_INT, 1),
         "dilation_rate": (_INT, 1), "padding": (_padding, None), "activation": (_activation, "linear"),
         "use_bias": (_boolean, True)}
_POOL = {"pool_size": (_INT, 2), "strides": (_INT, None), "padding": (_padding, None)}
FIELDS: dict[str, dict[str, tuple[Reader, Any]]] = {
    "Conv1D": _CONV,
    "MaxPooling1D": _POOL,
    "AveragePooling1D": _POOL,
    "Flatten": {},
    "Dense": {"units": (_positive(CHANNELS_MAX, False), ...), "activation": (_activation, "linear"),
              "use_bias": (_boolean, True)},
    "Add": {},
    "Multiply": {},
    "Concatenate": {"axis": (_axis, None)},
    "Activation": {"activation": (_activation, ...)},
}


def _did_you_mean(word: str, choices, otherwise: str) -> str:
    import difflib  # only on the error path

    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"Did you mean `{lowered[close[0]]}`?" if close else otherwise


def _read_mapping(node: Node, fields: dict, what: str, out: list) -> dict[str, Any] | None:
    """Read a mapping's known fields, reporting unknown and missing keys."""
    if not isinstance(node.value, dict):
        _wrong(node, what, "a mapping", out, "Write it as `{key: value, ...}`.")
        return None
    values: dict[str, Any] = {}
    for key, child in node.value.items():
        if key not in fields:
            out.append(Diagnostic("E111", child.where, f"unknown key `{key}` in {what}",
                                  _did_you_mean(key, fields, "Known keys: " + ", ".join(sorted(fields)) + ".")))
            continue
        values[key] = fields[key][0](child, key, out)
    for key, (_, default) in fields.items():
        if key not in node.value:
            if default is ...:
                out.append(Diagnostic("E112", node.span, f"{what} is missing the required field `{key}`",
                                      f"Add `{key}: ...`."))
            values[key] = None if default is ... else default
    return values


def _any(node: Node, key: str, out: list):
    return node.value  # read by its own pass


_TOP = {"name": (_string, None), "input": (_any, ...), "layers": (_any, ...), "output": (_string, None)}
INPUT_FIELDS = {"channels": (_positive(CHANNELS_MAX, False), ...), "window": (_positive(INT_MAX, False), None)}


def _read_layer(index: int, node: Node, out: list) -> dict | None:
    if not isinstance(node.value, dict):
        _wrong(node, f"layers[{index}]", "a mapping", out, "`- {type: Conv1D, filters: 16, kernel_size: 2}`.")
        return None
    type_node = node.value.get("type")
    if type_node is None:
        out.append(Diagnostic("E112", node.span, f"layer {index + 1} is missing the required field `type`",
                              "Add `type: Conv1D` (or another layer type)."))
        return None
    written = _string(type_node, "type", out)
    if written is None:
        return None
    type_name = TYPE_ALIASES.get(written, written)
    if type_name not in FIELDS:
        known = list(FIELDS) + list(TYPE_ALIASES)
        out.append(Diagnostic("E113", type_node.span, f"unknown layer type {written!r}",
                              _did_you_mean(written, known, "Known types: " + ", ".join(FIELDS) + ".")))
        return None
    values = _read_mapping(node, {**COMMON_FIELDS, **FIELDS[type_name]}, f"{type_name} layer", out)
    values["type"] = type_name
    return values


def _snake(type_name: str) -> str:
    out = ""
    for i, char in enumerate(type_name):
        out += ("_" if char.isupper() and i and not type_name[i - 1].isupper() else "") + char.lower()
    return out


def _layer_from(values: dict, node: Node, previous: str, default_name: str) -> Layer:
    kind_fields = {
        "filters": values.get("filters") or values.get("units") or 0,
        "kernel_size": values.get("kernel_size") or 1,
        "dilation_rate": values.get("dilation_rate") or 1,
        "activation": values.get("activation") or "linear",
        "use_bias": values.get("use_bias") is not False,
    }
    if values["type"] in POOLS:
        pool = values.get("pool_size") or 2
        kind_fields.update(pool_size=pool, strides=values.get("strides") or pool)
    else:
        kind_fields["strides"] = values.get("strides") or 1
    inputs = values.get("inputs") or ((previous, node),)
    return Layer(name=values.get("name") or default_name, type=values["type"], inputs=tuple(n for n, _ in inputs),
                 source=node, input_nodes=tuple(n for _, n in inputs), **kind_fields)


def build_spec(root: Node | None, path: str, text: str) -> tuple[Spec | None, list[Diagnostic]]:
    """Check a located YAML tree against the spec format and build the Spec IR."""
    out: list[Diagnostic] = []
    if root is None:
        return None, out
    top = _read_mapping(root, _TOP, "the spec", out)
    if top is None:
        return None, out
    entries = root.value
    input_values = _read_mapping(entries["input"], INPUT_FIELDS, "`input`", out) if "input" in entries else None
    layers_node = entries.get("layers")
    layers: list[Layer] = []
    if layers_node is not None:
        if not isinstance(layers_node.value, list) or not layers_node.value:
            _wrong(layers_node, "layers", "a non-empty list of layers", out, "`layers:` followed by `- {type: ...}` items.")
        else:
            taken = {n.value["name"].value for n in layers_node.value
                     if isinstance(n.value, dict) and "name" in n.value and isinstance(n.value["name"].value, str)}
            previous = "input"
            for index, node in enumerate(layers_node.value):
                read = _read_layer(index, node, out)
                if read is None:
                    previous = None
                    continue
                default = f"{_snake(read['type'])}_{index + 1}"
                while default in taken:
                    default += "_"
                layer = _layer_from(read, node, previous or "", default)
                layers.append(layer)
                previous = layer.name
    name = top.get("name")
    if name is not None and not NAME.fullmatch(name):
        out.append(Diagnostic("E114", entries["name"].span, f"`name` must be a file stem of letters, digits, '_', "
                              f"'.' and '-' (not starting with '.'); received {name!r}",
                              "It names STEM.keras, STEM.py and STEM.map.json: `name: my-model`."))
    name = name or re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.splitext(os.path.basename(path))[0]).lstrip(".") or "model"
    output = top.get("output") or (layers[-1].name if layers else "")
    spans = {"input": entries["input"].where if "input" in entries else root.span,
             "output": entries["output"].span if "output" in entries else (layers[-1].span if layers else root.span),
             "layers": layers_node.where if layers_node is not None else root.span}
    if input_values is not None:
        for key in ("channels", "window"):
            if key in entries["input"].value:
                spans[key] = entries["input"].value[key].span
    if any(d.is_error for d in out) or input_values is None or not layers:
        return None, out
    ordered = _check_graph(layers, output, spans["output"], out)
    if ordered is None:
        return None, out
    spec = Spec(name=name, path=path, channels=input_values["channels"], window=input_values["window"],
                layers=ordered, output=output, text=text, spans=spans)
    return spec, out


def _check_graph(layers: list[Layer], output: str, output_span: Span, out: list) -> tuple[Layer, ...] | None:
    """Names unique and known, arities right, no cycles; returns the layers in dependency order."""
    by_name: dict[str, Layer] = {}
    for layer in layers:
        if not NAME.fullmatch(layer.name):
            out.append(Diagnostic("E114", layer.at("name"), f"a layer name must be letters, digits, '_', '.' and '-' "
                                  f"(not starting with '.'); received {layer.name!r}",
                                  "Keras names weights after their layer: `name: block_1`."))
        elif layer.name == "input":
            out.append(Diagnostic("E121", layer.at("name"), "a layer is named `input`, which names the model input",
                                  "Rename the layer."))
        elif layer.name in by_name:
            first = by_name[layer.name].at("name")
            out.append(Diagnostic("E115", layer.at("name"),
                                  f"duplicate layer name `{layer.name}` (first at line {first.line})",
                                  "Give each layer a unique `name`."))
        else:
            by_name[layer.name] = layer
    known = ["input", *by_name]
    for layer in layers:
        for name, node in zip(layer.inputs, layer.input_nodes):
            if name != "input" and name not in by_name:
                out.append(Diagnostic("E116", node.span, f"layer `{layer.name}` takes `{name}`, which is not defined",
                                      _did_you_mean(name, known, "Name a layer defined in the spec, or `input`.")))
        if layer.kind == "merge" and len(layer.inputs) < 2:
            out.append(Diagnostic("E118", layer.at("inputs"), f"{layer.type} `{layer.name}` needs two or more inputs; "
                                  f"received {len(layer.inputs)}", "`inputs: [a, b]`."))
        if layer.kind != "merge" and len(layer.inputs) != 1:
            out.append(Diagnostic("E119", layer.at("inputs"), f"{layer.type} `{layer.name}` takes one input; "
                                  f"received {len(layer.inputs)}", "Merge them first with Add or Concatenate."))
    if output not in by_name:
        out.append(Diagnostic("E116", output_span, f"`output` names `{output}`, which is not a layer",
                              _did_you_mean(output, list(by_name), "Name the layer whose value the model predicts.")))
    if out and any(d.is_error for d in out):
        return None
    return _dependency_order(layers, by_name, out)


def _dependency_order(layers: list[Layer], by_name: dict[str, Layer], out: list) -> tuple[Layer, ...] | None:
    """Kahn's algorithm, keeping the file's order among ready layers."""
    waiting = {layer.name: {n for n in layer.inputs if n != "input"} for layer in layers}
    users: dict[str, list[str]] = {}
    for layer in layers:
        for name in waiting[layer.name]:
            users.setdefault(name, []).append(layer.name)
    position = {layer.name: i for i, layer in enumerate(layers)}
    ready = [(position[n], n) for n, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    ordered = []
    while ready:
        _, name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for user in users.get(name, ()):
            waiting[user].discard(name)
            if not waiting[user]:
                heapq.heappush(ready, (position[user], user))
    if len(ordered) < len(layers):
        walk = [next(layer.name for layer in layers if waiting[layer.name])]
        while (step := min(waiting[walk[-1]], key=position.get)) not in walk:
            walk.append(step)
        loop = walk[walk.index(step):]
        cycle = " -> ".join(reversed(loop + [loop[0]]))
        first = by_name[min(loop, key=position.get)]
        out.append(Diagnostic("E117", first.at("inputs"), f"the layers {cycle} form a cycle",
                              "Make every layer take its inputs from layers that do not depend on it."))
        return None
    return tuple(ordered)
