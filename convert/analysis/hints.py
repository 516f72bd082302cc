"""Valid but suspicious: the warnings an analysed spec gets (W301 window beyond the receptive field, W302
stride over kernel, judged on the whole graph, W303 huge receptive field)."""

from __future__ import annotations

from convert.core import limits
from convert.core.diagnostics import Diagnostic

HUGE_RECEPTIVE_FIELD = 2**20


def warnings_of(a) -> list[Diagnostic]:
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
    skipping = [p for p in a.plans if p.used and (g := p.layer.kind.geometry(p.layer)) and g.stride > g.extent]
    seen = a.reached if skipping and a.window <= REACH_WINDOW_MAX and a.taps <= limits.plan_taps() else None
    for plan in skipping:
        layer = plan.layer
        geometry = layer.kind.geometry(layer)
        source = layer.inputs[0]
        if seen is not None:  # judged on the whole graph: another branch may read what this one skips
            read = {q for i in range(plan.out.width) for q in geometry.taps(i, a.tensors[source].width)}
            if all(seen[source][q] for q in range(a.tensors[source].width) if q not in read):
                continue
        out.append(Diagnostic("W302", layer.at("strides"), f"`{layer.name}` has stride {geometry.stride} but "
                              f"spans {geometry.extent} step(s): {geometry.stride - geometry.extent} input "
                              "position(s) between its applications reach the output through no layer",
                              "Make the kernel (or pool) at least as wide as the stride."))
    return out


REACH_WINDOW_MAX = 1 << 16  # larger windows judge W302 on the layer alone


def reached(a) -> dict[str, bytearray]:
    """For every tensor, which of its positions (oldest first) the output depends on."""
    spec = a.spec
    reached = {name: bytearray(t.width) for name, t in a.tensors.items()}
    reached[spec.output] = bytearray(b"\x01" * a.tensors[spec.output].width)
    for plan in reversed(a.plans):
        if not plan.used:
            continue
        layer, out = plan.layer, plan.out
        runs = _runs(reached[layer.name])
        for name in layer.inputs:
            source, mask = a.tensors[name], reached[name]
            for first, last in runs:
                for read in layer.kind.read_span(layer, first, last, source.width, out.width, source.grid, out.grid):
                    _mark(mask, read)
    return reached


def _runs(mask: bytearray) -> list[tuple[int, int]]:
    """The runs of set positions of `mask`, as (first, last) pairs."""
    runs, start = [], mask.find(1)
    while start >= 0:
        stop = mask.find(0, start)
        if stop < 0:
            stop = len(mask)
        runs.append((start, stop - 1))
        start = mask.find(1, stop)
    return runs


def _mark(mask: bytearray, read) -> None:
    """Set the positions `read` (a range, marked as one slice, or any iterable) of `mask`."""
    if isinstance(read, range) and read.step > 0 and 0 <= read.start and read.stop <= len(mask):
        count = len(read)
        if count:
            mask[read.start:read.stop:read.step] = b"\x01" * count
        return
    for q in read:
        mask[q] = 1
