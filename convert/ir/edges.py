"""Exact 'same' padding (`same_padding: exact`): which positions of each per-step tensor are shared by
every window and which are edge positions with a sequence of their own.

In the window ending at t, position p of a per-step tensor is *interior* when no tap on its way from the
input lands in padding: its value is then one shared sequence V of the tensor read at a fixed delay,
V[t - off(p)], as in the unpadded practice model. Every other position is an *edge* position: as a
function of t it is again shift-invariant, so it is a sequence of its own, B_p[t], computed from the taps
of p that are real (a convolution drops the taps in padding, a pool ignores them), each read from V at a
fixed delay or from another edge sequence. In practice a tensor is (batch, T, 1 + edges, channels): slot 0
holds V, slot s the s-th edge position. The cost is set by the number of edge positions, not the window.

Pure arithmetic over an Analysis (no TensorFlow): the lowering builds the Keras layers from these plans,
`explain` reports the edge positions and the cost, and lint warns where edges fill a tensor.
"""

from __future__ import annotations

from typing import NamedTuple

from convert.core.records import record

V, B = "v", "b"  # a position's source: ("v", delay) reads V at t - delay; ("b", s) is edge slot s (1, 2, ...)
PAD, ZERO = -1, -2  # taps an edge row reads from no position: padding (ignored by pools), or a zero value


class Layout(NamedTuple):
    """Where each position of a tensor (oldest first) comes from, in the window ending at t."""

    sources: tuple[tuple[str, int], ...]

    @property
    def width(self) -> int:
        return len(self.sources)

    @property
    def edges(self) -> int:
        return sum(kind == B for kind, _ in self.sources)

    @property
    def interior(self) -> int:
        return self.width - self.edges

    @property
    def slots(self) -> int:
        """Slots of the practice tensor: V, then one per edge position."""
        return 1 + self.edges


def input_layout(window: int) -> Layout:
    return Layout(tuple((V, window - 1 - p) for p in range(window)))


class Reader:
    """How an edge layer reads its input: the input's edge slots, then V at the delays it needs; the index
    of a source in that context (PAD and ZERO stay negative: the layer appends those slots last)."""

    def __init__(self, layout: Layout):
        self.layout, self.edges = layout, layout.edges  # counted once: `index` runs for every tap
        self.delays: list[int] = []
        self._at: dict[int, int] = {}  # delay -> its place in `delays`

    def index(self, source) -> int:
        if source is None:
            return PAD
        kind, value = source
        if kind == B:
            return value - 1
        if value not in self._at:
            self._at[value] = len(self.delays)
            self.delays.append(value)
        return self.edges + self._at[value]


class WindowPlan(NamedTuple):
    """A convolution or pool: V through the layer at the practice dilation (when any output position is
    interior), and one row of k context indices per edge output position."""

    layout: Layout
    vpath: bool
    delays: tuple[int, ...]  # V delays the rows read
    rows: tuple[tuple[int, ...], ...]
    order: tuple[int, ...] | None = None  # every output position an edge: the input's positions, in order

    def macs(self, macs: int, channels: int) -> int:
        """Multiply-adds per output step: the V path once, and once per edge row."""
        return macs * (self.vpath + len(self.rows))


def _native(geometry) -> bool:
    """Keras's own layer can run the per-step form over gathered positions (TensorFlow has no convolution
    with both a stride and a dilation)."""
    return not (geometry.stride > 1 and geometry.spacing > 1)


def window_plan(layout: Layout, geometry, kernel: int, in_grid: int) -> WindowPlan:
    """Output positions of a windowed layer over `layout`: interior when every tap is an interior position
    at the delays the practice layer reads (V path), otherwise an edge row."""
    n = layout.width
    left = geometry.pad(n)[0]
    spacing = geometry.spacing
    reach = [(kernel - 1 - i) * spacing * in_grid for i in range(kernel)]
    # an interior position's delay, or None for an edge one: the V test reads these alone
    delay = [value if kind == V else None for kind, value in layout.sources]
    span = (kernel - 1) * spacing
    reader, sources, rows = Reader(layout), [], []
    for j in range(geometry.out_width(n)):
        first = j * geometry.stride - left
        last = first + span
        newest = delay[last] if 0 <= first and last < n else None
        if newest is not None and all(delay[first + i * spacing] == newest + reach[i] for i in range(kernel)):
            sources.append((V, newest))  # None never equals a number: every tap is interior
        else:
            rows.append(tuple(reader.index(layout.sources[q] if 0 <= q < n else None)
                              for q in range(first, last + 1, spacing)))
            sources.append((B, len(rows)))
    vpath = any(kind == V for kind, _ in sources)
    order = None
    if not vpath and _native(geometry):  # as per-window evaluation: the layer over the window's positions
        order = tuple(reader.index(source) for source in layout.sources)
    return WindowPlan(Layout(tuple(sources)), vpath, tuple(reader.delays), tuple(rows), order)


class CollapsePlan(NamedTuple):
    """A Flatten + Dense head or a global pool over `layout`: the longest run of interior positions at
    uniform delays (one dilated convolution or pool over V) plus one context index per other position."""

    run: tuple[int, int, int] | None  # (first position, last position, delay of the last) or None
    delays: tuple[int, ...]
    row: tuple[int, ...]  # per position: a context index, or PAD for the positions the run covers

    @property
    def layout(self) -> Layout:
        return Layout(((V, 0),))  # one position

    def macs(self, macs: int, channels: int) -> int:
        """The run as one dilated layer, plus one multiply-add per channel for each other position."""
        return macs + sum(index != PAD for index in self.row) * channels


def collapse_plan(layout: Layout, grid: int) -> CollapsePlan:
    best, start = None, None
    for p, (kind, off) in enumerate(layout.sources):
        if kind != V:
            start = None
            continue
        if start is None or layout.sources[p - 1] != (V, off + grid):
            start = p
        if best is None or p - start > best[1] - best[0]:
            best = (start, p)
    reader = Reader(layout)
    row = tuple(PAD if best and best[0] <= p <= best[1] else reader.index(source)
                for p, source in enumerate(layout.sources))
    run = (best[0], best[1], layout.sources[best[1]][1]) if best else None
    return CollapsePlan(run, tuple(reader.delays), row)


class AlignPlan(NamedTuple):
    """One input of a merge (or ZeroPadding1D, or the model output) brought to the output's positions:
    V delayed by `v_delay` (None: no interior position), and per edge slot a source: ("b", input slot),
    ("d", V delay) or ("z", 0) for a zero."""

    v_delay: int | None
    slots: tuple[tuple[str, int], ...]

    def identity(self, layout: Layout) -> bool:
        return self.v_delay in (0, None) and self.slots == tuple((B, s) for s in range(1, layout.slots)) and \
            (self.v_delay == 0 or layout.interior == 0)

    @property
    def delays(self) -> tuple[int, ...]:
        return ((self.v_delay,) if self.v_delay is not None else ()) + tuple(v for k, v in self.slots if k == "d")


def _slot(source) -> tuple[str, int]:
    if source is None:
        return ("z", 0)
    kind, value = source
    return (B, value) if kind == B else ("d", value)


def merge_plan(layer, layouts: list[Layout], widths: list[int], grids: list[int], width: int,
               grid: int) -> MergePlan:
    """Positions of a merge's output: interior where every input is interior and the inputs' delays differ
    by the same amounts as at the newest such position (then V is the merge of the inputs' V, each delayed
    by its share); otherwise edge slots gathered from each input."""
    found = []
    for p in range(width):
        found.append([lay.sources[layer.kind.reads(layer, p, w, width, g, grid)[0]]
                      for lay, w, g in zip(layouts, widths, grids)])
    interior = [p for p in range(width) if all(s[0] == V for s in found[p])]
    shares = None
    if interior:
        offs = [s[1] for s in found[interior[-1]]]
        shares = [o - min(offs) for o in offs]
    sources, columns = [], [[] for _ in layouts]
    for p in range(width):
        offs = [s[1] for s in found[p]]
        if p in interior and [o - min(offs) for o in offs] == shares:
            sources.append((V, min(offs)))
        else:
            for column, source in zip(columns, found[p]):
                column.append(_slot(source))
            sources.append((B, len(columns[0])))
    v = any(kind == V for kind, _ in sources)
    aligns = [AlignPlan(shares[i] if v else None, tuple(columns[i])) for i in range(len(layouts))]
    return MergePlan(Layout(tuple(sources)), tuple(aligns))


def pad_plan(layout: Layout, left: int, right: int) -> PadPlan:
    """ZeroPadding1D: its zeros are edge positions holding zeros (real values: pools count them)."""
    sources, slots = [], []
    for source in [None] * left + list(layout.sources) + [None] * right:
        if source is not None and source[0] == V:
            sources.append(source)
        else:
            slots.append(_slot(source))
            sources.append((B, len(slots)))
    v = any(kind == V for kind, _ in sources)
    return PadPlan(Layout(tuple(sources)), AlignPlan(0 if v else None, tuple(slots)))


def crop_plan(layout: Layout, oldest: int, newest: int) -> PadPlan:
    """Cropping1D: the kept positions keep their sources (V at its delay, or an edge slot gathered again)."""
    return pad_plan(Layout(layout.sources[oldest:layout.width - newest]), 0, 0)


def output_plan(layout: Layout) -> AlignPlan:
    """The model output: its single position, from V at its delay or from its edge slot."""
    kind, value = layout.sources[0]
    return AlignPlan(value, ()) if kind == V else AlignPlan(None, ((B, value),))


class Kept(NamedTuple):
    """A position-wise layer (or a Flatten): its output has its input's positions."""

    layout: Layout

    def macs(self, macs: int, channels: int) -> int:
        return macs * self.layout.slots  # once per slot


class MergePlan(NamedTuple):
    """A merge: its output's positions and how each input is brought to them."""

    layout: Layout
    aligns: tuple[AlignPlan, ...]

    def macs(self, macs: int, channels: int) -> int:
        return macs * self.layout.slots


class PadPlan(NamedTuple):
    """ZeroPadding1D: its output's positions and how its input is brought to them."""

    layout: Layout
    align: AlignPlan

    def macs(self, macs: int, channels: int) -> int:
        return macs * self.layout.slots


# ---- the `edge` argument of the edge layers (convert.layers.edges): typed until get_config ----

class EdgeArgument:
    """What an edge layer computes, as its `edge` constructor argument; `config()` is the JSON-ready form a
    Keras layer's get_config (and the generated source) holds."""

    def config(self) -> dict:
        raise NotImplementedError

    def step_delays(self) -> tuple[int, ...]:
        """Every V delay the layer reads, in the order its `step` takes them."""
        raise NotImplementedError


@record
class WindowEdge(EdgeArgument):
    """A convolution or pool over a layout: V through `taps` taps `dilation` apart, then the plan's rows
    (`strides`, `spacing` and `same`: the per-step layer's, for a plan whose every position is an edge)."""

    taps: int
    dilation: int
    plan: WindowPlan
    strides: int = 1
    spacing: int = 1
    same: bool = False

    def config(self) -> dict:
        plan = self.plan
        edge = {"op": "window", "taps": self.taps, "dilation": self.dilation, "vpath": plan.vpath,
                "delays": list(plan.delays), "rows": [list(r) for r in plan.rows]}
        if plan.order is not None:  # every position an edge: Keras's per-step layer over the window's positions
            edge["window"] = {"order": list(plan.order), "strides": self.strides, "dilation": self.spacing,
                              "padding": "same" if self.same else "valid"}
        return edge

    def step_delays(self):
        reach = tuple((self.taps - 1 - i) * self.dilation for i in range(self.taps)) if self.plan.vpath else ()
        return reach + tuple(self.plan.delays)


@record
class CollapseEdge(EdgeArgument):
    """A Flatten + Dense head or a global pool: the run over V at `grid`, plus the other positions."""

    plan: CollapsePlan
    grid: int

    def config(self) -> dict:
        plan = self.plan
        return {"op": "collapse", "run": list(plan.run) if plan.run else None, "grid": self.grid,
                "delays": list(plan.delays), "width": len(plan.row),
                "others": [[p, index] for p, index in enumerate(plan.row) if index != PAD]}

    def step_delays(self):
        run = self.plan.run
        shifted = tuple(run[2] + (run[1] - p) * self.grid for p in range(run[0], run[1] + 1)) if run else ()
        return shifted + tuple(self.plan.delays)


@record
class AlignEdge(EdgeArgument):
    """A merge input, ZeroPadding1D or the model output brought to other positions (EdgeAlign)."""

    plan: AlignPlan
    squeeze: bool = False

    def config(self) -> dict:
        return {"op": "align", "v_delay": self.plan.v_delay, "slots": [list(s) for s in self.plan.slots],
                "squeeze": self.squeeze}

    def step_delays(self):
        return self.plan.delays


def edge_argument(edge) -> EdgeArgument:
    """The typed argument of an edge layer built from a saved configuration (a dict), or as given."""
    if isinstance(edge, EdgeArgument):
        return edge
    if edge["op"] == "window":
        window = edge.get("window") or {}
        order = tuple(window["order"]) if window else None
        plan = WindowPlan(Layout(()), edge["vpath"], tuple(edge["delays"]), tuple(tuple(r) for r in edge["rows"]), order)
        return WindowEdge(edge["taps"], edge["dilation"], plan, window.get("strides", 1), window.get("dilation", 1),
                          window.get("padding") == "same")
    if edge["op"] == "collapse":
        row = [PAD] * edge["width"]
        for p, index in edge["others"]:
            row[p] = index
        run = tuple(edge["run"]) if edge["run"] else None
        return CollapseEdge(CollapsePlan(run, tuple(edge["delays"]), tuple(row)), edge["grid"])
    return AlignEdge(AlignPlan(edge["v_delay"], tuple(tuple(s) for s in edge["slots"])), edge["squeeze"])
