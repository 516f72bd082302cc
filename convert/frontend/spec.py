"""The spec IR (frozen records, `convert.core.records`) and its construction from located YAML, with every structural check.

Kinds (`convert.kinds`) own their fields; this module reads any registered kind the same way.
"""

from __future__ import annotations

import os
import re
from typing import Any

from convert import kinds
from convert.core.diagnostics import Diagnostic, Span
from convert.core.located import Node
from convert.core.records import field, record
from convert.kinds import input as input_kind
from convert.kinds.equivalents import KERAS_EQUIVALENTS
from convert.frontend.graph import NAME, check_graph
from convert.kinds.fields import ANY, STRING, Field, choice, did_you_mean, wrong

INPUT = "input"  # the name `input:` gives the model input
NAME_MAX = 255 - len("-folded.keras")  # the longest file name a spec's name makes


@record
class Input:
    """A model input: a node of the graph that layers name in `inputs`."""

    name: str
    channels: int  # a categorical input's: its K categories (their one-hot vectors)
    window: int | None
    source: Node | None = field(default=None, compare=False, repr=False)
    hop: int | None = None  # steps per frame (local conditioning)
    is_global: bool = False  # one vector per sequence
    categories: int | None = None  # integer input with K categories

    @property
    def sequence(self) -> bool:
        """A step-rate input that the window slides over (neither hop nor global)."""
        return not self.hop and not self.is_global


@record
class Layer:
    """One per-step layer as the spec states it: its kind's fields with defaults filled in, and the spans
    of what was written. Fields read as attributes (`layer.filters`)."""

    name: str
    type: str  # canonical Keras class name
    inputs: tuple[str, ...]
    config: dict = field(default_factory=dict, hash=False)
    source: Node | None = field(default=None, compare=False, repr=False)  # the layer's YAML mapping
    input_nodes: tuple = field(default=(), compare=False, repr=False)  # where each input is named
    exact_same: bool = False  # the spec says `same_padding: exact`: 'same' padding is compiled, not refused

    def __getattr__(self, key: str) -> Any:
        config = self.__dict__.get("config", {})
        if key in config:
            return config[key]
        raise AttributeError(f"{self.type} layer has no field {key!r}")

    @property
    def kind(self) -> kinds.Kind:
        known = self.__dict__.get("_kind")  # looked up once: the passes ask for it thousands of times
        if known is None:
            known = kinds.kind_of(self.type)
            object.__setattr__(self, "_kind", known)
        return known

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


@record
class Spec:
    """A whole per-step network: its inputs, its layers in dependency order and its output."""

    name: str
    path: str
    inputs: tuple[Input, ...]
    layers: tuple[Layer, ...]
    output: str
    text: str = field(default="", compare=False, repr=False)  # the file as read
    spans: dict[str, Span] = field(default_factory=dict, compare=False, hash=False)
    same_padding: str | None = None  # "exact": 'same' padding and ZeroPadding1D compiled exactly

    @property
    def window(self) -> int | None:
        """The window the spec states (None: inferred); sequence inputs share it."""
        return next((node.window for node in self.inputs if node.window is not None), None)

    @property
    def signal(self) -> Input:
        """The first sequence input: the modelled signal, whose steps every other input is aligned to."""
        return next(node for node in self.inputs if node.sequence)

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)

    def at(self, key: str) -> Span:
        return self.spans.get(key, Span(self.path, 1, 1))


def _read_mapping(node: Node, fields: dict[str, Field], what: str, out: list) -> dict[str, Any] | None:
    """Read a mapping's known fields, reporting unknown and missing keys; absent fields get their defaults."""
    if not isinstance(node.value, dict):
        wrong(node, what, "a mapping", out, "Write it as `{key: value, ...}`.")
        return None
    values: dict[str, Any] = {}
    for key, child in node.value.items():
        if key not in fields:
            out.append(Diagnostic("E111", child.where, f"unknown key `{key}` in {what}",
                                  did_you_mean(key, fields, "Known keys: " + ", ".join(sorted(fields)) + ".")))
            continue
        values[key] = fields[key].reader.read(child, key, out)
    for key, spec_field in fields.items():
        if key not in node.value:
            if spec_field.default is ...:
                out.append(Diagnostic("E112", node.span, f"{what} is missing the required field `{key}`",
                                      f"Add `{key}: ...`."))
            values[key] = None if spec_field.default is ... else spec_field.default_for(values)
    return values


_TOP = {"name": Field(STRING, None, "Model name and output file stem; default: the file's stem."),
        INPUT: Field(ANY, None, "The model input (`{channels: C, window: W}`), named `input`."),
        "inputs": Field(ANY, None, "Several model inputs, in the order the models take them (replaces `input`)."),
        "layers": Field(ANY, ..., "The per-step layers, in order."),
        "output": Field(STRING, None, "Name of the output layer; default: the last layer."),
        "same_padding": Field(choice("exact"), None, "`exact`: compile Keras's per-window 'same' padding and "
                              "ZeroPadding1D exactly (cost: `causalc explain`); absent: 'same' is E200.")}


def _read_layer(index: int, node: Node, out: list) -> dict | None:
    if not isinstance(node.value, dict):
        wrong(node, f"layers[{index}]", "a mapping", out, "`- {type: Conv1D, filters: 16, kernel_size: 2}`.")
        return None
    type_node = node.value.get("type")
    if type_node is None:
        out.append(Diagnostic("E112", node.span, f"layer {index + 1} is missing the required field `type`",
                              "Add `type: Conv1D` (or another layer type)."))
        return None
    written = STRING.read(type_node, "type", out)
    if written is None:
        return None
    type_name = kinds.canonical(written)
    if type_name not in kinds.KINDS:
        known = list(kinds.KINDS) + list(kinds.ALIASES)
        supported = "causalc compiles: " + ", ".join(kinds.KINDS) + "."
        if written in KERAS_EQUIVALENTS:
            out.append(Diagnostic("E113", type_node.span, f"Keras's {written} has no causalc kind",
                                  f"{KERAS_EQUIVALENTS[written]} {supported}"))
        else:
            out.append(Diagnostic("E113", type_node.span, f"unknown layer type {written!r}",
                                  did_you_mean(written, known, supported)))
        return None
    values = _read_mapping(node, kinds.KINDS[type_name].fields, f"{type_name} layer", out)
    values["type"] = type_name
    return values


def _snake(type_name: str) -> str:
    out = ""
    for i, char in enumerate(type_name):
        out += ("_" if char.isupper() and i and not type_name[i - 1].isupper() else "") + char.lower()
    return out


def _layer_from(values: dict, node: Node, previous: str, default_name: str, exact_same: bool) -> Layer:
    inputs = values.pop("inputs", None) or ((previous, node),)
    name = values.pop("name", None) or default_name
    type_name = values.pop("type")
    return Layer(name=name, type=type_name, inputs=tuple(n for n, _ in inputs), config=values, source=node,
                 input_nodes=tuple(n for _, n in inputs), exact_same=exact_same)


def build_spec(root: Node | None, path: str, text: str) -> tuple[Spec | None, list[Diagnostic], Spec | None]:
    """Check a located YAML tree against the spec format and build the Spec IR: (spec, diagnostics, partial).
    A spec with errors gives None and, as `partial`, the Spec of its layers that read cleanly and take
    nothing from a layer that does not (for the checks that can still be made, `analysis.partial_checks`),
    when its inputs and graph allow; a spec without errors, itself and None."""
    out: list[Diagnostic] = []
    if root is None:
        return None, out, None
    top = _read_mapping(root, _TOP, "the spec", out)
    if top is None:
        return None, out, None
    entries = root.value
    errors = sum(d.is_error for d in out)
    inputs, input_node = _read_inputs(root, out)
    inputs_clean = sum(d.is_error for d in out) == errors
    layers_node = entries.get("layers")
    layers: list[Layer] = []
    broken: set[str] = set()  # the names of layers that do not read cleanly
    previous: str | None = None
    if layers_node is not None:
        if not isinstance(layers_node.value, list) or not layers_node.value:
            wrong(layers_node, "layers", "a non-empty list of layers", out, "`layers:` followed by `- {type: ...}` items.")
        else:
            taken = {n.value["name"].value for n in layers_node.value
                     if isinstance(n.value, dict) and "name" in n.value and isinstance(n.value["name"].value, str)}
            previous = inputs[0].name if inputs else INPUT
            for index, node in enumerate(layers_node.value):
                errors = sum(d.is_error for d in out)
                read = _read_layer(index, node, out)
                if read is None or sum(d.is_error for d in out) > errors:  # a broken layer: its name stays known
                    given = node.value.get("name") if isinstance(node.value, dict) else None
                    previous = given.value if given is not None and isinstance(given.value, str) else f"#{index + 1}"
                    broken.add(previous)
                    continue
                default = f"{_snake(read['type'])}_{index + 1}"
                while default in taken:
                    default += "_"
                layer = _layer_from(read, node, previous or "", default, top.get("same_padding") == "exact")
                layer.kind.check(layer, out)  # its own fields' checks, whatever else is wrong
                layers.append(layer)
                previous = layer.name
    name = top.get("name")
    if name is not None and not NAME.fullmatch(name):
        out.append(Diagnostic("E114", entries["name"].span, f"`name` must be a file stem of letters, digits, '_', "
                              f"'.' and '-' (not starting with '.'); received {name!r}",
                              "It names STEM.keras, STEM.py and STEM.map.json: `name: my-model`."))
    elif name is not None and len(name) > NAME_MAX:
        out.append(Diagnostic("E114", entries["name"].span, f"`name` is {len(name)} characters; the files it names "
                              f"(up to STEM-folded.keras) must fit the file system's 255, so at most {NAME_MAX}",
                              "Use a shorter `name`."))
    name = name or (re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.splitext(os.path.basename(path))[0]).lstrip(".")[:NAME_MAX] or "model")
    output = top.get("output") or previous or ""  # default: the last layer, broken or not
    spans = {INPUT: input_node.where if input_node is not None else root.span,
             "output": entries["output"].span if "output" in entries else (layers[-1].span if layers else root.span),
             "layers": layers_node.where if layers_node is not None else root.span}
    for node in inputs or ():
        for key in ("channels", "window"):
            if isinstance(node.source.value, dict) and key in node.source.value and key not in spans:
                spans[key] = node.source.value[key].span
    if inputs and top.get("same_padding") and (len(inputs) > 1 or inputs[0].categories):
        out.append(Diagnostic("E114", entries["same_padding"].span, "`same_padding: exact` takes one float input; "
                              f"this spec has {'several inputs' if len(inputs) > 1 else 'a categorical input'}",
                              "Use 'valid' padding (remove `same_padding`), or one `input:` of float channels."))
    def recovered() -> Spec | None:
        return _partial(inputs if inputs_clean else None, layers, broken, output, name, path, text, spans,
                        top.get("same_padding"))

    if any(d.is_error for d in out) or not inputs or not layers:
        return None, out, recovered()
    ordered = check_graph(inputs, layers, output, spans["output"], out)
    if ordered is None:
        return None, out, recovered()
    spec = Spec(name=name, path=path, inputs=inputs, layers=ordered, output=output, text=text, spans=spans,
                same_padding=top.get("same_padding"))
    return spec, out, None


def _partial(inputs, layers: list[Layer], broken: set[str], output: str, name: str, path: str, text: str,
             spans: dict, same_padding) -> Spec | None:
    """The Spec of the layers that read cleanly and depend on no broken layer (None when nothing is left or
    the graph of what is left has errors)."""
    if not inputs or not layers:
        return None
    known = {node.name for node in inputs}
    tainted = set(broken)
    changed = True
    while changed:  # explicit `inputs` may name later layers: to a fixed point
        changed = False
        defined = known | {layer.name for layer in layers}
        for layer in layers:
            if layer.name not in tainted and any(n in tainted or n not in defined for n in layer.inputs):
                tainted.add(layer.name)
                changed = True
    kept = [layer for layer in layers if layer.name not in tainted]
    if not kept:
        return None
    output = output if output in {layer.name for layer in kept} else kept[-1].name
    ordered = check_graph(inputs, kept, output, spans["output"], [])
    if ordered is None:
        return None
    return Spec(name=name, path=path, inputs=inputs, layers=ordered, output=output, text=text, spans=spans,
                same_padding=same_padding)


def _read_inputs(root: Node, out: list) -> tuple[tuple[Input, ...] | None, Node | None]:
    """`input:` (one sequence input named `input`) or `inputs:` (a list), checked."""
    entries = root.value
    one, many = entries.get(INPUT), entries.get("inputs")
    if one is not None and many is not None:
        out.append(Diagnostic("E111", many.where, "the spec has both `input` and `inputs`",
                              "Keep `inputs:` (a list of named inputs) and move `input:` into it."))
        return None, one
    if one is None and many is None:
        out.append(Diagnostic("E112", root.span, "the spec is missing the required field `input` (or `inputs`)",
                              "Add `input: {channels: 1}`, or `inputs: [{name: audio, channels: 1}, ...]`."))
        return None, None
    if one is not None:
        values = _read_mapping(one, input_kind.FIELDS, f"`{INPUT}`", out)
        return (None if values is None else (Input(INPUT, values["channels"], values["window"], one),)), one
    if not isinstance(many.value, list) or not many.value:
        wrong(many, "inputs", "a non-empty list of inputs", out,
              "`inputs: [{name: audio, channels: 1}, {name: mel, channels: 80, hop: 256}]`.")
        return None, many
    inputs, seen = [], {}
    for index, node in enumerate(many.value):
        values = _read_mapping(node, input_kind.LIST_FIELDS, f"inputs[{index}]", out)
        if values is None or values["name"] is None:
            continue
        made = _input_from(values, node, index, out)
        if made is None:
            continue
        if made.name in seen:
            out.append(Diagnostic("E115", node.value["name"].span, f"duplicate input name `{made.name}`",
                                  "Give each input a unique `name`."))
            continue
        seen[made.name] = made
        inputs.append(made)
    if len(inputs) < len(many.value):
        return None, many
    if not any(node.sequence for node in inputs):
        out.append(Diagnostic("E114", many.where, "no input is a sequence: every input has `hop` or `global`",
                              "Add the modelled signal: `- {name: audio, channels: 1}`."))
        return None, many
    windows = {node.window for node in inputs if node.window is not None}
    if len(windows) > 1:
        late = [node for node in inputs if node.window is not None][-1]
        out.append(Diagnostic("E114", late.source.value["window"].span, "sequence inputs share one window; "
                              f"the inputs state {', '.join(map(str, sorted(windows)))}",
                              "State `window` once, on the modelled signal."))
        return None, many
    return tuple(inputs), many


def _input_from(values: dict, node: Node, index: int, out: list) -> Input | None:
    name, channels, categories = values["name"], values["channels"], values["categories"]
    at = node.value
    if not NAME.fullmatch(name):
        out.append(Diagnostic("E114", at["name"].span, f"an input name must be letters, digits, '_', '.' and '-' "
                              f"(not starting with '.'); received {name!r}", "`name: mel`."))
        return None
    if channels is None and categories is None:
        out.append(Diagnostic("E112", node.span, f"input `{name}` needs `channels` (or `categories` for integers)",
                              "`channels: 80`, or `categories: 256` for integer levels."))
        return None
    if channels is not None and categories is not None:
        out.append(Diagnostic("E114", at["channels"].span, f"input `{name}` has both `channels` and `categories`",
                              "An integer input has `categories: K` only (its one-hot vectors have K channels)."))
        return None
    if values["hop"] is not None and values["global"]:
        out.append(Diagnostic("E114", at["hop"].span, f"input `{name}` has both `hop` and `global: true`",
                              "A global input is one vector per sequence; a hop input one frame per `hop` steps."))
        return None
    if values["window"] is not None and (values["hop"] is not None or values["global"]):
        out.append(Diagnostic("E114", at["window"].span, f"`window` on the {'hop' if values['hop'] else 'global'} "
                              f"input `{name}`: the window is the sequence inputs'",
                              "State `window` on the modelled signal."))
        return None
    return Input(name, categories or channels, values["window"], node, values["hop"], bool(values["global"]),
                 categories)
