"""The compiler's passes in order: read -> parse YAML -> build spec -> analyse (`check`), then lower and
emit (`convert.backends.write.write_outputs`: practice graph, per-step graph, Keras model, weight map,
Python source). Everything here is TensorFlow-free; the backends are not.
"""

from __future__ import annotations

import functools
import gc
import re
from typing import NamedTuple

from convert.analysis import Analysis, analyse
from convert.frontend.diagnostics import Diagnostic, SpecError, has_errors
from convert.frontend.source import load_yaml, read_text, suspicious_values
from convert.frontend.spec import build_spec
from convert import limits
from convert.lower import lower
from convert.lower_same import edge_construction


def without_cyclic_gc(function):
    """Run `function` with the cyclic garbage collector paused.

    The passes allocate many small objects and create no cycles worth collecting; left running, the
    collector rescans them all again and again, and a 20,000-layer spec takes quadratic time.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        paused = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if paused:
                gc.enable()

    return wrapper


class Checked(NamedTuple):
    """What the front end learnt of one spec file."""

    path: str
    analysis: Analysis | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.analysis is not None and not has_errors(self.diagnostics)


@without_cyclic_gc
def check(path: str) -> Checked:
    """Run the TensorFlow-free passes; stop after the first pass that reports an error."""
    text, found = read_text(path)
    if text is None:
        return Checked(path, None, found)
    return check_text(text, path, found)


def check_text(text: str, path: str, diagnostics: list[Diagnostic] | None = None) -> Checked:
    """The passes on a spec's text (`path` names it in diagnostics)."""
    diagnostics = list(diagnostics or [])
    root, found = load_yaml(text, path)  # parse YAML safely, keeping locations
    diagnostics += found + suspicious_values(root)
    if has_errors(diagnostics):
        return Checked(path, None, _unsuppressed(diagnostics, text))
    spec, found = build_spec(root, path, text)  # the spec IR: fields, names, graph
    diagnostics += found
    if spec is None or has_errors(diagnostics):
        return Checked(path, None, _unsuppressed(diagnostics, text))
    analysis, found = analyse(spec)  # widths, grids, dilations, window, receptive field
    if analysis is not None and spec.same_padding == "exact":
        too_large = plan_size(analysis)
        if too_large is not None:
            return Checked(path, None, _unsuppressed(diagnostics + found + [too_large], text))
        found += edge_warnings(analysis)
    if analysis is not None:
        too_large = step_values(analysis)
        if too_large is not None:
            return Checked(path, None, _unsuppressed(diagnostics + found + [too_large], text))
    return Checked(path, analysis, _unsuppressed(diagnostics + found, text))


def plan_size(analysis: Analysis) -> Diagnostic | None:
    """E212 before planning exact 'same' padding whose plan alone would be too large: one entry per tap of
    every output position of every windowed layer, bounded like the values per step."""
    if analysis.taps <= limits.plan_taps():
        return None
    total = 0
    for plan, taps in analysis.layer_taps():
        total += taps
        if total > limits.plan_taps():
            return Diagnostic("E212", plan.layer.span, f"exact 'same' padding over this window needs more than "
                              f"{limits.plan_taps():,} taps planned by `{plan.layer.name}` (positions times "
                              "kernel taps)", "Use a smaller window or kernels, or raise the limit: "
                              "`causalc --max-step-values N ...`.")
    return None


def step_values(analysis: Analysis) -> Diagnostic | None:
    """E212 at the layer where the practice model's activations per time step (per sequence) pass
    `limits.MAX_STEP_VALUES`: one value per channel, per edge slot with exact 'same' padding, per window
    position in its per-window form."""
    graph = lower(analysis) if analysis.spec.same_padding == "exact" else None
    total = sum(node.channels for node in analysis.spec.inputs)
    for plan in analysis.plans:
        if not plan.used:
            continue
        if graph is not None and graph.same == "windows":
            total += plan.out.width * plan.out.channels
        elif graph is not None:  # a layer of its own (a Flatten has none): its slots
            shape = graph.shapes.get(plan.layer.name)
            total += shape[0] * plan.out.practice_channels if shape else 0
        else:
            total += plan.out.practice_channels
        if total > limits.MAX_STEP_VALUES:
            return Diagnostic("E212", plan.layer.span, f"the practice model holds more than "
                              f"{limits.MAX_STEP_VALUES:,} values per time step of each sequence by `{plan.layer.name}` "
                              f"({total * 4 / 2**20:,.0f} MiB per step as float32); training on sequences of T steps "
                              "needs T times that", "Use fewer channels or a smaller window (with 'same' padding), "
                              "or raise the limit: `causalc --max-step-values N ...`.")
    return None


def edge_warnings(analysis: Analysis) -> list[Diagnostic]:
    """W306: the edge zones of 'same' padding meet (every position of a layer is an edge position), so from
    there on the exact practice model costs what per-window evaluation costs."""
    costs = edge_construction(analysis).costs
    for plan in analysis.plans:
        cost = costs.get(plan.layer.name)
        if cost is not None and cost.per_window:
            layer = plan.layer
            return [Diagnostic("W306", layer.key_at("type"), f"the 'same' padding edge zones meet at `{layer.name}`: "
                               f"all {cost.width} of its positions are edge positions, so it and the layers after "
                               "it cost per window what per-window evaluation costs",
                               "Expected for deep networks over short windows (`causalc explain` shows the cost); "
                               "a larger window, smaller kernels or fewer 'same' layers leave interior positions.")]
    return []


_IGNORE = re.compile(r"#\s*causalc:\s*ignore\[([^\]]*)\]")


def _unsuppressed(diagnostics: list[Diagnostic], text: str) -> list[Diagnostic]:
    """Drop warnings silenced by a `# causalc: ignore[CODE, ...]` comment on their line; errors stay."""
    ignored: dict[int, set[str]] = {}
    if "causalc:" in text:
        for number, line in enumerate(text.splitlines(), 1):
            for match in _IGNORE.finditer(line):
                ignored.setdefault(number, set()).update(c.strip().upper() for c in match.group(1).split(","))
    kept = [d for d in diagnostics if d.is_error or d.code not in ignored.get(d.span.line, ())]
    return sorted(kept, key=Diagnostic.sort_key)


def front_end(path: str) -> Analysis:
    """Check a spec; raises SpecError with every diagnostic if it has errors."""
    checked = check(path)
    if not checked.ok:
        raise SpecError(checked.diagnostics)
    return checked.analysis
