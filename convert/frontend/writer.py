"""Writing a spec back as YAML: one flow mapping per layer, only the fields that differ from their
defaults, `inputs` only where a layer does not take the one above it. Reading the text gives the same IR."""

from __future__ import annotations

from convert import kinds
from convert.core.records import replace
from convert.frontend.pyyaml import yaml
from convert.frontend.spec import Layer, Spec


def _value(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()


def layer_line(layer: Layer, previous: str) -> str:
    """`- {type: ..., name: ..., inputs: ..., field: value, ...}` with the non-default fields."""
    kind = kinds.kind_of(layer.type)
    items = [("type", layer.type), ("name", layer.name)]
    if list(layer.inputs) != [previous]:
        items.append(("inputs", layer.inputs[0] if len(layer.inputs) == 1 else list(layer.inputs)))
    values: dict = {}
    for key, field in kind.own_fields.items():
        value = layer.config.get(key)
        values[key] = value
        default = field.default_for(values)
        if value is not None and value != default and not (key == "padding" and value == "valid"):
            items.append((key, value))
    return "  - {" + ", ".join(f"{key}: {_value(value)}" for key, value in items) + "}"


def spec_text(spec: Spec, layers: list[Layer] | None = None, header: str = "") -> str:
    """The YAML text of `spec` (with `layers` in place of its own, when given), headed by comment lines."""
    layers = list(spec.layers if layers is None else layers)
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines.append(f"name: {_value(spec.name)}")
    if spec.same_padding is not None:
        lines.append(f"same_padding: {spec.same_padding}")
    lines += _input_lines(spec) + ["layers:"]
    previous = spec.inputs[0].name
    for layer in layers:
        lines.append(layer_line(layer, previous))
        previous = layer.name
    if spec.output != layers[-1].name:
        lines.append(f"output: {_value(spec.output)}")
    return "\n".join(lines) + "\n"


def _input_lines(spec: Spec) -> list[str]:
    """`input: {...}` for one input named `input`, else `inputs:` with one line per input."""
    nodes = spec.inputs
    if len(nodes) == 1 and nodes[0].name == "input" and nodes[0].sequence and not nodes[0].categories:
        window = f", window: {nodes[0].window}" if nodes[0].window is not None else ""
        return [f"input: {{channels: {nodes[0].channels}{window}}}"]
    lines = ["inputs:"]
    for node in nodes:
        items = [("name", node.name),
                 ("categories", node.categories) if node.categories else ("channels", node.channels)]
        items += [(key, value) for key, value in (("window", node.window), ("hop", node.hop)) if value is not None]
        items += [("global", True)] if node.is_global else []
        lines.append("  - {" + ", ".join(f"{key}: {_value(value)}" for key, value in items) + "}")
    return lines


def canonical_sha256(analysis) -> str:
    """The identity of a compiled network: the SHA-256 of its spec written canonically with the window it
    compiles for. Comments, layout, default fields written out or not, and an inferred versus a stated
    window do not change it; any change to the network does."""
    import hashlib

    spec = analysis.spec
    nodes = tuple(replace(node, window=analysis.window if node is spec.signal else None)
                  for node in spec.inputs)
    text = spec_text(replace(spec, inputs=nodes, path=""))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
