"""What can still be checked of a spec with errors, so that one run of `lint` reports every independent
problem: a typo in one layer does not hide a 'same' padding in another (`Kind.check`, run by the spec
builder on every layer that reads cleanly), nor the structure of the layers that do not depend on it, nor
the stated window's alignment at the layers whose widths are still known.

A layer is left out, with everything that depends on it, when it does not read cleanly or its structure
is wrong: what it would give is unknown, and a diagnostic about what follows it would be a guess.
"""

from __future__ import annotations

from convert.core.diagnostics import Diagnostic
from convert.core.records import replace
from convert.frontend.spec import Spec
from convert.analysis.shapes import _lack, _Structure, _widths, window_problem
from convert.kinds import input as input_kind


def partial_checks(spec: Spec | None, structure: bool = True) -> list[Diagnostic]:
    """The diagnostics of `spec`'s layers whose inputs are known (their structure, with `structure`) and the
    stated window's first misalignment among them. `spec` holds the layers that read cleanly (the spec
    builder's `partial`), or every layer of a spec whose structure has errors (structure=False: those were
    said)."""
    if spec is None:
        return []
    out: list[Diagnostic] = []
    meta = {node.name: input_kind.meta(node) for node in spec.inputs}
    for layer in spec.layers:
        if any(name not in meta for name in layer.inputs):
            continue
        found: list[Diagnostic] = []
        result = layer.kind.structure(layer, [meta[name] for name in layer.inputs], found)
        out += found
        if result is not None and not any(d.is_error for d in found):
            meta[layer.name] = result._replace(categories=0)
    said = out if structure else []
    if spec.window is None:  # an inferred window needs the whole spec
        return said
    known = replace(spec, layers=tuple(layer for layer in spec.layers if layer.name in meta))
    _, problem = _widths(known, _Structure(meta, frozenset(meta)), spec.window)
    return said + ([_window_problem(spec, problem)] if problem is not None else [])


def _window_problem(spec: Spec, problem) -> Diagnostic:
    layer, window = problem.layer, spec.window
    later = "or remove `window` to infer the smallest once the other errors are fixed."
    fix = f"Use a larger window, {later}" if problem.code == "E206" else \
        f"Add {_lack(problem)} step(s) to the window (`window: {window + _lack(problem)}` aligns `{layer.name}`), {later}"
    return window_problem(spec, problem, window, fix)
