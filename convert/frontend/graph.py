"""The spec's graph checks: names unique and known, arities right, no cycles; the layers in dependency
order (Kahn's algorithm, keeping the file's order among ready layers)."""

from __future__ import annotations

import heapq
import re

from convert.core.diagnostics import Diagnostic, Span
from convert.kinds.fields import did_you_mean

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # file stems and Keras layer names: no '/', no leading '.'


def check_graph(inputs: tuple, layers: list, output: str, output_span: Span,
                 out: list) -> tuple | None:
    """Names unique and known, arities right, no cycles; returns the layers in dependency order."""
    input_names = {node.name for node in inputs}
    by_name: dict = {}
    for layer in layers:
        if not NAME.fullmatch(layer.name):
            out.append(Diagnostic("E114", layer.at("name"), f"a layer name must be letters, digits, '_', '.' and '-' "
                                  f"(not starting with '.'); received {layer.name!r}",
                                  "Keras names weights after their layer: `name: block_1`."))
        elif layer.name in input_names:
            out.append(Diagnostic("E121", layer.at("name"), f"a layer is named `{layer.name}`, which names a model input",
                                  "Rename the layer."))
        elif layer.name in by_name:
            first = by_name[layer.name].at("name")
            out.append(Diagnostic("E115", layer.at("name"),
                                  f"duplicate layer name `{layer.name}` (first at line {first.line})",
                                  "Give each layer a unique `name`."))
        else:
            by_name[layer.name] = layer
    known = [*input_names, *by_name]
    for layer in layers:
        for name, node in zip(layer.inputs, layer.input_nodes):
            if name not in input_names and name not in by_name:
                out.append(Diagnostic("E116", node.span, f"layer `{layer.name}` takes `{name}`, which is not defined",
                                      did_you_mean(name, known, "Name a layer defined in the spec, or `input`.")))
        many = layer.kind.many_inputs
        if many and len(layer.inputs) < 2:
            out.append(Diagnostic("E118", layer.at("inputs"), f"{layer.type} `{layer.name}` needs two or more inputs; "
                                  f"received {len(layer.inputs)}", "`inputs: [a, b]`."))
        if not many and len(layer.inputs) != 1:
            out.append(Diagnostic("E119", layer.at("inputs"), f"{layer.type} `{layer.name}` takes one input; "
                                  f"received {len(layer.inputs)}", "Merge them first with Add or Concatenate."))
    if output not in by_name:
        out.append(Diagnostic("E116", output_span, f"`output` names `{output}`, which is not a layer",
                              did_you_mean(output, list(by_name), "Name the layer whose value the model predicts.")))
    if out and any(d.is_error for d in out):
        return None
    return dependency_order(layers, by_name, out)


def dependency_order(layers: list, by_name: dict, out: list) -> tuple | None:
    """Kahn's algorithm, keeping the file's order among ready layers."""
    waiting = {layer.name: {n for n in layer.inputs if n in by_name} for layer in layers}
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
