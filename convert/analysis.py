"""Time arithmetic of a spec: widths, grids, practice dilations, padding, receptive field, window inference.

Pure functions over the Spec IR; `explain`, `lint`, the lowering and the emitters all read their results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from convert.diagnostics import Diagnostic
from convert.perf import without_cyclic_gc
from convert.spec import INT_MAX, Layer, Spec

MAX_SEARCH = 100_000  # candidate windows tried by window inference before giving up


class Tensor(NamedTuple):
    """A per-step tensor: positions in the window, channels, input steps between positions, steps it sees."""

    width: int
    channels: int
    grid: int
    receptive_field: int


class Step(NamedTuple):
    """One spec layer with its per-step shape and its practice form."""

    layer: Layer
    out: Tensor
    in_width: int
    in_channels: int  # channels the practice layer reads
    kernel: int  # practice kernel size; 0 where the practice layer has none
    dilation: int  # practice dilation; 0 where none
    left_pad: int  # causal zeros the practice layer puts in front of its input
    params: int
    macs: int  # practice multiply-adds per output time step
    step_macs: int  # per-step multiply-adds per window
    used: bool  # contributes to the output


@dataclass(frozen=True)
class Analysis:
    spec: Spec
    window: int
    window_inferred: bool
    steps: tuple[Step, ...]
    tensors: dict[str, Tensor]

    @property
    def receptive_field(self) -> int:
        return self.tensors[self.spec.output].receptive_field

    @property
    def params(self) -> int:
        return sum(s.params for s in self.steps if s.used)

    @property
    def macs(self) -> int:
        return sum(s.macs for s in self.steps if s.used)

    @property
    def step_macs(self) -> int:
        return sum(s.step_macs for s in self.steps if s.used)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.layer.name == name)


# ---- window-independent structure: channels, grids, merge ratios, used layers ----

class _Structure(NamedTuple):
    grids: dict[str, int]
    channels: dict[str, int]  # per-step channels; a Flatten's (n * c) waits for the window
    merge_ratio: dict[tuple[str, str], int]  # (merge, input) -> coarsest grid / input grid
    used: frozenset[str]
    consumers: dict[str, list[Layer]]


def _structure(spec: Spec, out: list[Diagnostic]) -> _Structure | None:
    grids = {"input": 1}
    channels = {"input": spec.channels}
    ratio: dict[tuple[str, str], int] = {}
    consumers: dict[str, list[Layer]] = {}
    for layer in spec.layers:
        for name in layer.inputs:
            consumers.setdefault(name, []).append(layer)
    for layer in spec.layers:
        ins = layer.inputs
        grid = grids[ins[0]]
        kind = layer.kind
        if kind == "conv":
            channels[layer.name] = layer.filters
            if grid * layer.dilation_rate > INT_MAX or grid * layer.strides > INT_MAX:
                out.append(Diagnostic("E209", layer.span, f"`{layer.name}` needs a practice dilation past 2**31 - 1 "
                                      f"(grid {grid:,} times dilation {layer.dilation_rate:,}, then stride {layer.strides:,})",
                                      "Use fewer or smaller strides before this layer."))
                return None
            grid *= layer.strides
        elif kind == "pool":
            channels[layer.name] = channels[ins[0]]
            grid *= layer.strides
            if grid > INT_MAX:
                out.append(Diagnostic("E209", layer.span, f"the grid after `{layer.name}` passes 2**31 - 1",
                                      "Use fewer or smaller strides."))
                return None
        elif kind == "flatten":
            channels[layer.name] = 0  # n * c: known once the window is
            users = consumers.get(layer.name, [])
            bad = [u for u in users if u.kind != "dense"]
            if bad or layer.name == spec.output:
                where = bad[0].key_at("type") if bad else layer.span
                what = f"feeds {bad[0].type} `{bad[0].name}`" if bad else "is the output"
                out.append(Diagnostic("E208", where, f"Flatten `{layer.name}` {what}; a Flatten must feed Dense layers",
                                      "Follow the Flatten with `{type: Dense, units: ...}`."))
        elif kind == "dense":
            channels[layer.name] = layer.filters
        elif kind == "activation":
            channels[layer.name] = channels[ins[0]]
        else:
            in_grids = [grids[n] for n in ins]
            grid = max(in_grids)
            odd = [(n, g) for n, g in zip(ins, in_grids) if grid % g]
            if odd:
                listed = ", ".join(f"`{n}` grid {g}" for n, g in zip(ins, in_grids))
                out.append(Diagnostic("E204", layer.at("inputs"), f"{layer.type} `{layer.name}` merges {listed}; "
                                      f"grid {odd[0][1]} does not divide the coarsest grid {grid}",
                                      "Give the merged branches strides whose products divide one another."))
            for n, g in zip(ins, in_grids):
                ratio[(layer.name, n)] = grid // g if grid % g == 0 else 1
            in_channels = [channels.get(n) for n in ins]
            if layer.type == "Concatenate":
                channels[layer.name] = sum(c or 0 for c in in_channels)
            else:
                known = [c for c in in_channels if c is not None]
                if len(set(known)) > 1:
                    listed = ", ".join(f"`{n}` has {c}" for n, c in zip(ins, in_channels) if c is not None)
                    out.append(Diagnostic("E205", layer.at("inputs"), f"{layer.type} `{layer.name}` needs equal "
                                          f"channels; {listed}", "Give the branches the same `filters`, or use Concatenate."))
                channels[layer.name] = known[0] if known else 0
        grids[layer.name] = grid
    if any(d.is_error for d in out):
        return None
    used = {spec.output}
    for layer in reversed(spec.layers):
        if layer.name in used:
            used.update(n for n in layer.inputs if n != "input")
    for layer in spec.layers:
        if layer.name not in used:
            out.append(Diagnostic("W300", layer.key_at("type"), f"layer `{layer.name}` does not contribute to the "
                                  f"output `{spec.output}`", "Wire it into the output or delete it."))
    return _Structure(grids, channels, ratio, frozenset(used), consumers)


# ---- widths for a given window ----

class _Problem(NamedTuple):
    code: str  # E206 (too small) or E202 (misaligned)
    layer: Layer
    in_width: int


def _widths(spec: Spec, st: _Structure, window: int) -> tuple[dict[str, int], _Problem | None]:
    """Width of every tensor for `window`, and the first layer that does not fit it."""
    widths = {"input": window}
    problem = None
    for layer in spec.layers:
        kind = layer.kind
        n = widths[layer.inputs[0]]
        if kind in ("conv", "pool"):
            span = layer.span_of_kernel
            if n < span:
                return widths, _Problem("E206", layer, n)
            if (n - span) % layer.strides and problem is None:
                problem = _Problem("E202", layer, n)
            widths[layer.name] = (n - span) // layer.strides + 1
        elif kind == "flatten":
            widths[layer.name] = 1
        elif kind == "merge":
            widths[layer.name] = min((widths[i] - 1) // st.merge_ratio[(layer.name, i)] + 1 for i in layer.inputs)
        else:
            widths[layer.name] = n
    return widths, problem


def _smallest_window(spec: Spec, st: _Structure) -> int:
    """The smallest window giving every layer enough input and width >= 1 at the output (exact inverse of _widths)."""
    need = {layer.name: 1 for layer in spec.layers}
    need["input"] = 1
    for layer in reversed(spec.layers):
        m = need[layer.name]
        for name in layer.inputs:
            if layer.kind in ("conv", "pool"):
                n = (m - 1) * layer.strides + layer.span_of_kernel
            elif layer.kind == "flatten":
                n = 1
            elif layer.kind == "merge":
                n = (m - 1) * st.merge_ratio[(layer.name, name)] + 1
            else:
                n = m
            need[name] = max(need[name], n)
    return need["input"]


def valid_windows(spec: Spec, st: _Structure, limit: int = 64, start: int = 1,
                  stop: int | None = None) -> tuple[list[int], _Problem | None]:
    """Windows from `start` up (at most `limit`, ending with the first past `stop`) that fit: every layer
    aligned and width 1 at the output.

    Widths never shrink as the window grows and grow by at most one step per step of window, so on a
    misaligned layer the window can jump by the input width it lacks without skipping a valid window.
    """
    found: list[int] = []
    window = max(start, _smallest_window(spec, st))
    last_problem = None
    for _ in range(MAX_SEARCH):
        if window > INT_MAX:
            break
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
            lack = problem.layer.strides - (problem.in_width - problem.layer.span_of_kernel) % problem.layer.strides
            window += lack if problem.code == "E202" else 1
    return found, last_problem


def fitting_windows(spec: Spec, limit: int = 64) -> list[int]:
    """The smallest windows (at most `limit`) that fit the spec; empty when none does or the spec has errors."""
    st = _structure(spec, [])
    return valid_windows(spec, st, limit)[0] if st is not None else []


def _nearest(windows: list[int], window: int) -> str:
    below = [w for w in windows if w < window]
    above = [w for w in windows if w > window]
    picks = ([below[-1]] if below else []) + ([above[0]] if above else [])
    return " or ".join(f"`window: {w}`" for w in picks)


@without_cyclic_gc
def analyse(spec: Spec) -> tuple[Analysis | None, list[Diagnostic]]:
    """Infer or check the window, then compute every layer's per-step shape and practice form."""
    out: list[Diagnostic] = []
    st = _structure(spec, out)
    if st is None:
        return None, out
    window = spec.window
    if window is None:
        windows, last_problem = valid_windows(spec, st, limit=1)
        if not windows:
            hint = f" (last blocked at `{last_problem.layer.name}`)" if last_problem else ""
            out.append(Diagnostic("E207", spec.at("input"), f"no window aligns every strided layer and "
                                  f"gives width 1 at `{spec.output}`{hint}",
                                  "Change the strides of the branches that disagree, or end with Flatten + Dense."))
            return None, out
        window = windows[0]
    else:
        problem = _check_window(spec, st, window)
        if problem is not None:
            out.append(problem)
            return None, out
    widths, _ = _widths(spec, st, window)
    steps, tensors = _steps(spec, st, widths)
    for step in steps:
        if step.dilation > INT_MAX or step.out.receptive_field > INT_MAX:
            out.append(Diagnostic("E209", step.layer.span, f"`{step.layer.name}` reaches a receptive field past 2**31 - 1",
                                  "Use fewer or smaller strides."))
            return None, out
    analysis = Analysis(spec, window, spec.window is None, steps, tensors)
    return analysis, out + _warnings(analysis)


HUGE_RECEPTIVE_FIELD = 2**20


def _warnings(a: Analysis) -> list[Diagnostic]:
    """Valid but suspicious: a window the output does not see, skipped inputs, an enormous receptive field."""
    out = []
    spec = a.spec
    where = spec.at("window") if spec.window is not None else spec.at("input")
    if a.window > a.receptive_field:
        out.append(Diagnostic("W301", where, f"window {a.window} is larger than the receptive field "
                              f"{a.receptive_field}: the oldest {a.window - a.receptive_field} step(s) of every "
                              "window never reach the output",
                              f"Use `window: {a.receptive_field}` if it fits, or remove `window` to infer one."))
    if a.receptive_field > HUGE_RECEPTIVE_FIELD:
        out.append(Diagnostic("W303", where, f"the receptive field is {a.receptive_field:,} steps (over 2**20)",
                              "Check the strides; training sequences must be longer than the window."))
    for step in a.steps:
        layer = step.layer
        if layer.kind in ("conv", "pool") and layer.strides > layer.span_of_kernel:
            out.append(Diagnostic("W302", layer.at("strides"), f"`{layer.name}` has stride {layer.strides} but spans "
                                  f"{layer.span_of_kernel} step(s): {layer.strides - layer.span_of_kernel} input "
                                  "position(s) between its applications are never used",
                                  "Make the kernel (or pool) at least as wide as the stride."))
    return out


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
    layer = problem.layer
    if problem.code == "E206":
        return Diagnostic("E206", at, f"window {window} is too small: `{layer.name}` gets width {problem.in_width} "
                          f"but spans {layer.span_of_kernel} steps", help_tail)
    rest = (problem.in_width - layer.span_of_kernel) % layer.strides
    return Diagnostic("E202", at, f"window {window} misaligns `{layer.name}` (line {layer.span.line}): its input width "
                      f"{problem.in_width} minus its span {layer.span_of_kernel} is not a multiple of its stride "
                      f"{layer.strides} (remainder {rest}), so the newest {rest} step(s) would be dropped", help_tail)


def _steps(spec: Spec, st: _Structure, widths: dict[str, int]) -> tuple[tuple[Step, ...], dict[str, Tensor]]:
    tensors = {"input": Tensor(widths["input"], spec.channels, 1, 1)}
    flat_from: dict[str, Tensor] = {}  # Flatten name -> its input
    steps = []
    for layer in spec.layers:
        src = tensors[layer.inputs[0]]
        kind, width, grid = layer.kind, widths[layer.name], st.grids[layer.name]
        kernel = dilation = pad = params = macs = step_macs = 0
        rf = src.receptive_field
        channels = st.channels.get(layer.name, 0)
        bias = layer.filters if layer.use_bias else 0
        if kind == "conv":
            kernel, dilation = layer.kernel_size, src.grid * layer.dilation_rate
            macs = kernel * src.channels * layer.filters
            params, step_macs = macs + bias, macs * width
        elif kind == "pool":
            kernel, dilation = layer.pool_size, src.grid
        elif kind == "flatten":
            flat_from[layer.name] = src
            channels = src.width * src.channels
        elif kind == "dense":
            head = flat_from.get(layer.inputs[0])
            kernel, dilation = (head.width, head.grid) if head else (1, 1)
            base = head or src
            rf = base.receptive_field
            macs = kernel * base.channels * layer.filters
            params, step_macs = macs + bias, macs * width
        elif kind == "merge":
            rf = max(tensors[n].receptive_field for n in layer.inputs)
            if layer.type == "Concatenate":
                channels = sum(tensors[n].channels for n in layer.inputs)
        if kernel:
            pad = (kernel - 1) * dilation
            rf += pad
        tensor = Tensor(width, channels, grid, rf)
        tensors[layer.name] = tensor
        in_channels = (flat_from.get(layer.inputs[0]) or src).channels
        steps.append(Step(layer, tensor, src.width, in_channels, kernel, dilation, pad, params, macs, step_macs,
                          layer.name in st.used))
    return tuple(steps), tensors
