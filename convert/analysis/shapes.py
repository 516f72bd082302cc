"""Time arithmetic of a spec: widths, grids, practice dilations, padding, receptive field, window inference.

Pure functions over the Spec IR; each layer's rules come from its kind (`convert.kinds`). `explain`,
`lint`, the lowering and the emitters all read the results.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import NamedTuple

from convert.core import limits
from convert.core.diagnostics import Diagnostic
from convert.core.records import record, replace
from convert.frontend.spec import Layer, Spec
from convert.analysis.hints import warnings_of
from convert.kinds import input as input_kind
from convert.kinds.base import Meta, Practice, Tensor
from convert.kinds.fields import INT_MAX

MAX_SEARCH = 100_000  # candidate windows tried by window inference before giving up
SCALAR_STEPS = 256  # windows tried one by one before the search goes on over arrays of windows
CHUNK = 8192


class LayerPlan(NamedTuple):
    """One spec layer analysed: its per-step output tensor and its practice form."""

    layer: Layer
    out: Tensor
    in_width: int
    practice: Practice
    used: bool  # contributes to the output

    @property
    def kernel(self) -> int:
        return self.practice.kernel

    @property
    def dilation(self) -> int:
        return self.practice.dilation

    @property
    def left_pad(self) -> int:
        """Causal zeros the practice layer puts in front of its input."""
        return self.practice.reach


@record
class Analysis:
    spec: Spec
    window: int
    window_inferred: bool
    plans: tuple[LayerPlan, ...]
    tensors: dict[str, Tensor]

    @cached_property  # with exact 'same' padding it traces the window: done once, however often it is read
    def receptive_field(self) -> int:
        """Input steps the output depends on. With exact 'same' padding, the steps of the window the output
        reads (padding never reaches outside the window; too large to trace, taken as the window)."""
        if self.spec.same_padding == "exact":
            if self.taps > limits.plan_taps():  # too large to trace (E212 stops such a spec anyway)
                return self.window
            seen = self.reached
            firsts = [seen[node.name].find(1) for node in self.spec.inputs if not node.is_global]
            return self.window - min((f for f in firsts if f >= 0), default=0)
        return self.tensors[self.spec.output].receptive_field

    @cached_property  # read by the receptive field and by W302: traced once
    def reached(self) -> dict[str, bytearray]:
        """For every tensor, which of its positions (oldest first) the output depends on."""
        from convert.analysis.hints import reached

        return reached(self)

    @property
    def params(self) -> int:
        return sum(p.practice.params for p in self.plans if p.used)

    @property
    def macs(self) -> int:
        return sum(p.practice.macs for p in self.plans if p.used)

    @property
    def step_macs(self) -> int:
        return sum(p.practice.step_macs for p in self.plans if p.used)

    def layer_taps(self):
        """(plan, input positions its output positions read) for each used windowed layer, in order."""
        for plan in self.plans:
            geometry = plan.layer.kind.geometry(plan.layer)
            if plan.used and geometry is not None:
                yield plan, plan.out.width * len(range(0, geometry.extent, geometry.spacing))

    @cached_property
    def taps(self) -> int:
        """Input positions read by every output position of every windowed layer: the work of tracing
        the per-step network position by position."""
        return sum(taps for _, taps in self.layer_taps())

    def plan(self, name: str) -> LayerPlan:
        return next(p for p in self.plans if p.layer.name == name)


# ---- window-independent structure: channels, grids, used layers ----

class _Structure(NamedTuple):
    meta: dict[str, Meta]  # every tensor's channels, grid and flatness
    used: frozenset[str]


def _structure(spec: Spec, out: list[Diagnostic]) -> _Structure | None:
    meta = {node.name: input_kind.meta(node) for node in spec.inputs}
    users: dict[str, list[Layer]] = {}
    for layer in spec.layers:
        for name in layer.inputs:
            users.setdefault(name, []).append(layer)
    for layer in spec.layers:
        kind = layer.kind
        found = kind.structure(layer, [meta[n] for n in layer.inputs], out)
        if found is None:
            return None
        meta[layer.name] = found._replace(categories=0)  # only an input holds integers
        kind.check_users(layer, lambda name: users.get(name, []), spec.output, out)
    if any(d.is_error for d in out):
        return None
    used = {spec.output}
    for layer in reversed(spec.layers):
        if layer.name in used:
            used.update(layer.inputs)
    for layer in spec.layers:
        if layer.name not in used:
            out.append(Diagnostic("W300", layer.key_at("type"), f"layer `{layer.name}` does not contribute to the "
                                  f"output `{spec.output}`", "Wire it into the output or delete it."))
    for node in spec.inputs:
        if node.name not in used and node.source is not None and len(spec.inputs) > 1:
            out.append(Diagnostic("W300", node.source.span, f"input `{node.name}` does not contribute to the "
                                  f"output `{spec.output}`", "Read it in a layer that reaches the output, or "
                                  "delete it (every model would still take it)."))
    return _Structure(meta, frozenset(used))


# ---- widths for a given window ----

class _Problem(NamedTuple):
    code: str  # E206 (too small) or E202 (misaligned)
    layer: Layer
    in_width: int


def _widths(spec: Spec, st: _Structure, window: int) -> tuple[dict[str, int], _Problem | None]:
    """Width of every tensor for `window`, and the first layer that does not fit it."""
    widths = {node.name: window for node in spec.inputs}
    problem = None
    for layer in spec.layers:
        kind = layer.kind
        ins = [widths[n] for n in layer.inputs]
        geometry = kind.geometry(layer)
        if geometry is not None:
            n = ins[0]
            if n < (1 if geometry.same else geometry.extent):
                return widths, _Problem("E206", layer, n)
            if not geometry.fits(n) and problem is None:
                problem = _Problem("E202", layer, n)
        widths[layer.name] = kind.width(layer, ins, [st.meta[n].grid for n in layer.inputs], st.meta[layer.name].grid)
    return widths, problem


def _smallest_window(spec: Spec, st: _Structure) -> int:
    """The smallest window giving every layer enough input and width >= 1 at the output (exact inverse of _widths)."""
    need = {name: 1 for name in st.meta}
    for layer in reversed(spec.layers):
        grid = st.meta[layer.name].grid
        for name in layer.inputs:
            need[name] = max(need[name], layer.kind.need(layer, need[layer.name], st.meta[name].grid, grid))
    return max(need[node.name] for node in spec.inputs)


def _lack(problem: _Problem) -> int:
    """Window steps to add so that the misaligned layer of `problem` consumes its input exactly."""
    geometry = problem.layer.kind.geometry(problem.layer)
    return geometry.stride - (problem.in_width - geometry.extent) % geometry.stride


def valid_windows(spec: Spec, st: _Structure, limit: int = 64, start: int = 1,
                  stop: int | None = None) -> tuple[list[int], _Problem | None]:
    """Windows from `start` up (at most `limit`, ending with the first past `stop`) that fit: every layer
    aligned and width 1 at the output.

    Widths never shrink as the window grows and grow by at most one step per step of window, so on a
    misaligned layer the window can jump by the input width it lacks without skipping a valid window.
    From the smallest window on, adding P = lcm(every grid) steps adds exactly P/g positions to every
    tensor of grid g and keeps every layer's alignment, so what fits repeats with period P: a search that
    finds nothing in one period never will.
    """
    found: list[int] = []
    window = origin = max(start, _smallest_window(spec, st))
    period = math.lcm(*(meta.grid for meta in st.meta.values()))
    last_problem = None
    for step in range(MAX_SEARCH):
        if window > INT_MAX or (not found and window >= origin + period):
            return found, last_problem
        if step == SCALAR_STEPS:  # a long search: the rest over arrays, so that lint stays fast on any spec
            return _search_many(spec, st, window, origin, period, found, limit, stop), last_problem
        widths, problem = _widths(spec, st, window)
        if widths.get(spec.output, 0) > 1:
            break
        if problem is None:
            found.append(window)
            if len(found) >= limit or (stop is not None and window > stop):
                break
            window += 1
        else:
            last_problem = problem
            window += _lack(problem) if problem.code == "E202" else 1
    return found, last_problem


def _search_many(spec: Spec, st: _Structure, window: int, origin: int, period: int, found: list[int], limit: int,
                 stop: int | None) -> list[int]:
    """valid_windows's search from `window` on, CHUNK windows at a time as NumPy arrays (the same rules)."""
    import numpy as np

    end = min(INT_MAX + 1, origin + MAX_SEARCH)
    while window < end and len(found) < limit and (stop is None or not found or found[-1] <= stop):
        if not found and window >= origin + period:
            break
        windows = np.arange(window, min(window + CHUNK, end), dtype=np.int64)
        widths = {node.name: windows for node in spec.inputs}
        fits = np.ones(len(windows), bool)
        for layer in spec.layers:
            ins = [widths[n] for n in layer.inputs]
            geometry = layer.kind.geometry(layer)
            if geometry is not None:
                fits &= geometry.fits(ins[0])
            width = layer.kind.width(layer, ins, [st.meta[n].grid for n in layer.inputs], st.meta[layer.name].grid)
            widths[layer.name] = np.broadcast_to(width, windows.shape)
        out = widths[spec.output]
        beyond = np.flatnonzero(out > 1)  # widths never shrink as the window grows: nothing fits past here
        last = beyond[0] if len(beyond) else len(windows)
        for w in windows[:last][fits[:last] & (out[:last] == 1)].tolist():
            found.append(w)
            if len(found) >= limit or (stop is not None and w > stop):
                return found
        if len(beyond):
            break
        window += len(windows)
    return found


def fitting_windows(spec: Spec, limit: int = 64) -> list[int]:
    """The smallest windows (at most `limit`) that fit the spec; empty when none does or the spec has errors."""
    st = _structure(spec, [])
    return valid_windows(spec, st, limit)[0] if st is not None else []


def _nearest(windows: list[int], window: int) -> str:
    below = [w for w in windows if w < window]
    above = [w for w in windows if w > window]
    picks = ([below[-1]] if below else []) + ([above[0]] if above else [])
    return " or ".join(f"`window: {w}`" for w in picks)


def analyse(spec: Spec) -> tuple[Analysis | None, list[Diagnostic]]:
    """Infer or check the window, then compute every layer's per-step shape and practice form."""
    out: list[Diagnostic] = []
    st = _structure(spec, out)
    if st is None:  # the pipeline adds the window's alignment where the layers without errors give it
        return None, out
    window = spec.window
    if window is None:
        windows, last_problem = valid_windows(spec, st, limit=1)
        if not windows:
            hint = f" (last blocked at `{last_problem.layer.name}`)" if last_problem else ""
            fix = "Change the strides of the branches that disagree, or end with Flatten + Dense."
            blockers = _unused_blockers(spec, st)
            if blockers:
                names = ", ".join(f"`{name}`" for name in blockers)
                hint = f" because of {names}, which {'does' if len(blockers) == 1 else 'do'} not reach the output"
                fix = f"Delete {names} or wire it into the output: without it, windows fit."
            out.append(Diagnostic("E207", spec.at("input"), f"no window aligns every strided layer and "
                                  f"gives width 1 at `{spec.output}`{hint}", fix))
            return None, out
        window = windows[0]
    else:
        problem = _check_window(spec, st, window)
        if problem is not None:
            out.append(problem)
            return None, out
    widths, _ = _widths(spec, st, window)
    plans, tensors = _plans(spec, st, widths)
    for plan in plans:
        if plan.dilation > INT_MAX or plan.out.receptive_field > INT_MAX:
            out.append(Diagnostic("E209", plan.layer.span, f"`{plan.layer.name}` reaches a receptive field past "
                                  "2**31 - 1", "Use fewer or smaller strides."))
            return None, out
    analysis = Analysis(spec, window, spec.window is None, plans, tensors)
    too_large = _too_large(analysis)
    if too_large is not None:
        out.append(too_large)
        return None, out
    return analysis, out + warnings_of(analysis)


def _too_large(analysis: Analysis) -> Diagnostic | None:
    """E211 at the layer whose weights take the network past `limits.MAX_PARAMETERS`."""
    total = 0
    for plan in analysis.plans:
        total += plan.practice.params if plan.used else 0
        if total > limits.MAX_PARAMETERS:
            return Diagnostic("E211", plan.layer.span, f"the network needs {analysis.params:,} parameters "
                              f"({analysis.params * 4 / 2**30:,.1f} GiB of float32 weights), past the limit of "
                              f"{limits.MAX_PARAMETERS:,}; `{plan.layer.name}` takes it past",
                              "Use fewer filters or units, smaller kernels, or a smaller Flatten before Dense; "
                              "or raise the limit: `causalc --max-parameters N ...`.")
    return None


def _unused_blockers(spec: Spec, st: _Structure) -> list[str]:
    """The unused windowed layers, when the spec without them has a window that fits: they alone block it."""
    unused = [layer.name for layer in spec.layers if layer.name not in st.used and layer.kind.geometry(layer)]
    if not unused:
        return []
    kept = replace(spec, layers=tuple(layer for layer in spec.layers if layer.name in st.used))
    structure = _structure(kept, [])
    return unused if structure is not None and valid_windows(kept, structure, limit=1)[0] else []


def _check_window(spec: Spec, st: _Structure, window: int) -> Diagnostic | None:
    """The error a stated window causes, naming the nearest windows that work."""
    widths, problem = _widths(spec, st, window)
    if problem is None and widths[spec.output] == 1:
        return None
    windows, _ = valid_windows(spec, st, limit=MAX_SEARCH, start=window - 4096, stop=window)
    if not any(w < window for w in windows):
        windows = valid_windows(spec, st)[0] + windows
    suggestion = _nearest(windows, window)
    help_tail = f"Use {suggestion}, or remove `window` to infer the smallest." if suggestion else \
        "No window works with these strides; change them."
    at = spec.at("window")
    if problem is None:
        return Diagnostic("E203", at, f"window {window} gives `{spec.output}` width {widths[spec.output]}; one window "
                          "must give one prediction (width 1)",
                          f"Add Flatten + Dense before `{spec.output}`" + (f", or use {suggestion}." if suggestion else "."))
    return window_problem(spec, problem, window, help_tail)


def window_problem(spec: Spec, problem: _Problem, window: int, help_tail: str) -> Diagnostic:
    """E206 or E202 at the stated window, for the layer of `problem`."""
    layer, at = problem.layer, spec.at("window")
    geometry = layer.kind.geometry(layer)
    if problem.code == "E206":
        return Diagnostic("E206", at, f"window {window} is too small: `{layer.name}` gets width {problem.in_width} "
                          f"but spans {geometry.extent} steps", help_tail)
    rest = (problem.in_width - geometry.extent) % geometry.stride
    return Diagnostic("E202", at, f"window {window} misaligns `{layer.name}` (line {layer.span.line}): its input width "
                      f"{problem.in_width} minus its span {geometry.extent} is not a multiple of its stride "
                      f"{geometry.stride} (remainder {rest}), so the newest {rest} step(s) would be dropped", help_tail)


def _plans(spec: Spec, st: _Structure, widths: dict[str, int]) -> tuple[tuple[LayerPlan, ...], dict[str, Tensor]]:
    tensors = {node.name: input_kind.tensor(node, widths[node.name]) for node in spec.inputs}
    plans = []
    for layer in spec.layers:
        kind = layer.kind
        ins = [tensors[n] for n in layer.inputs]
        out = kind.output(layer, ins, widths[layer.name], st.meta[layer.name])
        practice = kind.practice(layer, ins, out)
        out = out._replace(receptive_field=out.receptive_field + practice.reach)
        tensors[layer.name] = out
        plans.append(LayerPlan(layer, out, ins[0].width, practice, layer.name in st.used))
    return tuple(plans), tensors
