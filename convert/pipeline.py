"""The compiler's passes, in order, in one place:

    check:   read -> parse YAML -> build the spec -> analyse -> limits     (TensorFlow-free: lint, explain)
    compile: check -> lower (practice, per-step) -> emit (Keras model, weight map, Python source)

Each pass is the function named in its line; `check` stops after the first pass that reports an error.
"""

from __future__ import annotations

import functools
import gc
import re
from typing import NamedTuple

from convert.analysis import Analysis, analyse
from convert.analysis.partial import partial_checks
from convert.analysis.limits import edge_warnings, plan_size, step_values
from convert.core.diagnostics import Diagnostic, SpecError, has_errors
from convert.frontend.source import load_yaml, read_text, suspicious_values
from convert.frontend.spec import build_spec


WINDOW_CODES = {"E202", "E203", "E206", "E207"}  # the analysis's own verdicts on the window


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
    spec, found, partial = build_spec(root, path, text)  # the spec IR: fields, names, graph
    diagnostics += found
    if spec is None or has_errors(diagnostics):  # and what the layers without errors still show
        return Checked(path, None, _unsuppressed(diagnostics + partial_checks(partial), text))
    analysis, found = analyse(spec)  # widths, grids, dilations, window, receptive field
    if analysis is None and has_errors(found) and not {d.code for d in found} & WINDOW_CODES:
        found += partial_checks(spec, structure=False)  # the structure failed: the window where the rest allows
    if analysis is not None and spec.same_padding == "exact":
        too_large = plan_size(analysis)  # before the 'same' plan is made
        if too_large is not None:
            return Checked(path, None, _unsuppressed(diagnostics + found + [too_large], text))
        found += edge_warnings(analysis)
    if analysis is not None:
        too_large = step_values(analysis)  # activations per step, from the analysis and the 'same' plan
        if too_large is not None:
            return Checked(path, None, _unsuppressed(diagnostics + found + [too_large], text))
    return Checked(path, analysis, _unsuppressed(diagnostics + found, text))


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


def compile_spec(analysis: Analysis, out_dir: str, warmup: str = "causal") -> list[str]:
    """The compile passes after `check`: lower, then emit STEM.keras, STEM.map.json and STEM.py into
    `out_dir` (atomically); returns the paths written. Needs Keras."""
    from convert.backends.write import write_outputs
    from convert.lowering import lower, per_step_graph

    return write_outputs(analysis, lower(analysis, warmup), per_step_graph(analysis), out_dir)
