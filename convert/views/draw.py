"""`causalc draw`: pictures of a spec as the article draws its networks (TensorFlow-free; matplotlib).

- per-step form: one row of positions per tensor (input at the bottom), each position at the newest input
  step it sees (positions of grid g are g steps apart), with every connection that reaches the output;
  input steps that reach no output are marked;
- practice form: the same rows over a run of time steps (every row holds every step), with the dilated
  connections that feed one output step highlighted and its receptive field shaded on the input row (a
  receptive field past MAX_POSITIONS: drawn whole on a log axis, only the positions that feed that step);
- a picture of more than COLLAPSE_ROWS rows draws each run of three or more like blocks (`views.blocks`) as
  its first block, one shaded row for the blocks between (the tensor of theirs the last block reads, with
  the connections out of it) and its last block; `expand` draws every block;
- with `same_padding: exact`, the per-step form also shows each window's 'same' zeros (hollow, beside the
  positions they pad) and the edge positions (the positions whose taps reach those zeros), which the exact
  practice model computes apart.

The drawing is computed as data first (`per_step_drawing`, `practice_drawing`); every drawn connection
carries an SVG id `edge:LAYER:FROM:TO` so that tests read the picture, not its pixels.
"""

from __future__ import annotations

from typing import NamedTuple

from convert.analysis import Analysis
from convert.core.errors import BadValue
from convert.kinds.base import clip

MAX_POSITIONS = 64  # newest steps drawn per row; older ones are summed up by an ellipsis
MAX_EDGES = 2000  # connections one panel draws at most: fewer steps are shown (down to MIN_POSITIONS) past it
MIN_POSITIONS = 8
LOG_STEPS = 4100  # steps a log-axis practice panel covers at most (a receptive field of 4,096 and a few more)
COLLAPSE_ROWS = 24  # a picture of more rows than this draws runs of like blocks collapsed
MAX_ROWS = 300  # tensors one picture shows (a row each); a deeper network is refused before any drawing
FORMS = ("per-step", "practice", "both")
SUFFIXES = (".svg", ".png", ".pdf")


class TooDeep(BadValue):
    """A network with more tensors than one picture can show."""


class Row(NamedTuple):
    name: str
    label: str
    style: str  # input, layer, pool, merge, head
    steps: tuple[int, ...]  # x (time step) of each drawn node


class Edge(NamedTuple):
    layer: str
    source: str
    src: int  # time step of the source node
    dst: int  # time step of the destination node


class Drawing(NamedTuple):
    form: str
    rows: tuple[Row, ...]
    edges: tuple[Edge, ...]
    first: int  # the oldest step drawn
    last: int
    unused: tuple[int, ...]  # input steps that reach no output (per-step)
    field: tuple[int, int] | None  # the highlighted output's receptive field (practice)
    zeros: tuple[tuple[str, int], ...] = ()  # (row, step) of each drawn 'same' zero (per-step, exact 'same')
    edge_positions: tuple[tuple[str, int], ...] = ()  # (row, step) of each drawn edge position (likewise)
    target: str | None = None  # the row whose last step's inputs are drawn (practice: the output)
    log: bool = False  # practice over the whole receptive field: steps before the output on a log axis
    bands: tuple[str, ...] = ()  # rows that stand for the collapsed middle blocks of a run


def _style(plan) -> str:
    kind = plan.layer.kind
    if kind.many_inputs:
        return "merge"
    if kind.geometry(plan.layer) is not None and not kind.weighted:
        return "pool"
    return "head" if plan.out.flat else "layer"  # one value per window: Flatten, its Dense, a global pool


def _label(plan) -> str:
    layer, out = plan.layer, plan.out
    geometry = layer.kind.geometry(layer)
    shape = f"k{geometry.extent} s{geometry.stride}" if geometry is not None else ""
    return f"{layer.name}  {layer.type} {shape}  ({out.width}x{out.channels}, grid {out.grid})".replace("  (", " (")


def per_step_drawing(analysis: Analysis) -> Drawing:
    """Positions at the step they end on; connections that reach the output, among the drawn steps: the
    newest MAX_POSITIONS steps, or fewer when their connections would pass MAX_EDGES (a picture shows so
    many; drawing more only costs time)."""
    shown = min(MAX_POSITIONS, analysis.window)
    while True:
        drawing = _per_step_drawing(analysis, analysis.window - shown)
        if len(drawing.edges) <= MAX_EDGES or shown <= MIN_POSITIONS:
            return drawing
        shown //= 2


def _per_step_drawing(analysis: Analysis, first: int) -> Drawing:
    window = analysis.window
    spec = analysis.spec

    def step(name: str, position: int) -> int:
        tensor = analysis.tensors[name]
        return window - 1 - (tensor.width - 1 - position) * tensor.grid

    def drawn(name: str) -> range:
        """The positions of `name` that end at step `first` or later (never a loop over the whole window)."""
        tensor = analysis.tensors[name]
        return range(max(0, tensor.width - 1 - (window - 1 - first) // tensor.grid), tensor.width)

    reached = {name: set() for name in analysis.tensors}
    reached[spec.output] = set(drawn(spec.output))
    edges = []
    for plan in reversed(analysis.plans):
        if not plan.used:
            continue
        layer, out = plan.layer, plan.out
        for name in layer.inputs:
            source, oldest = analysis.tensors[name], drawn(name).start
            for position in sorted(reached[layer.name]):
                reads = layer.kind.reads(layer, position, source.width, out.width, source.grid, out.grid)
                # an older node is not drawn, and nor is anything it depends on
                reads = clip(reads, oldest, source.width) if isinstance(reads, range) else [q for q in reads if q >= oldest]
                for q in reads:
                    reached[name].add(q)
                    edges.append(Edge(layer.name, name, step(name, q), step(layer.name, position)))
    rows = []
    for node in spec.inputs:
        steps = tuple(range(first, window))
        rows.append(Row(node.name, f"{node.name} ({window}x{node.channels})", "input", steps))
    for plan in analysis.plans:
        if plan.used:
            name = plan.layer.name
            steps = tuple(step(name, p) for p in drawn(name))
            rows.append(Row(name, _label(plan), _style(plan), steps))
    unused = tuple(s for s in range(first, window) if s not in reached[spec.inputs[0].name])  # input: step = position
    zeros, edge_positions = _same_marks(analysis, first, step) if spec.same_padding == "exact" else ((), ())
    return Drawing("per-step", tuple(rows), tuple(sorted(set(edges))), first, window - 1, unused, None,
                   zeros, edge_positions)


def _same_marks(analysis: Analysis, first: int, step) -> tuple[tuple, tuple]:
    """Exact 'same' padding made visible: each padded tensor's zeros beside its positions (at the steps they
    would stand at, before and after the window), and every edge position of the 'same' plan."""
    from convert.analysis.same import same_plan
    from convert.ir.edges import B

    zeros = set()
    for plan in analysis.plans:
        layer = plan.layer
        geometry = layer.kind.geometry(layer)
        if not plan.used or geometry is None or not geometry.same:
            continue
        name = layer.inputs[0]
        width = analysis.tensors[name].width
        left, right = geometry.pad(width)
        for position in [*range(-left, 0), *range(width, width + right)]:
            if step(name, position) >= first:
                zeros.add((name, step(name, position)))
    layouts = same_plan(analysis).layouts
    edge_positions = {(name, step(name, p)) for name, layout in layouts.items() if name in analysis.tensors
                      for p, (kind, _) in enumerate(layout.sources) if kind == B and step(name, p) >= first}
    return tuple(sorted(zeros)), tuple(sorted(edge_positions))


def practice_drawing(analysis: Analysis, steps: int | None = None) -> Drawing:
    """Every row holds every step of a run; the last step's output and the dilated connections that feed it.
    Without `steps`: the receptive field and a few more steps when they are at most MAX_POSITIONS, fewer when
    their connections would pass MAX_EDGES; a larger receptive field (up to LOG_STEPS) is drawn whole, on a
    log axis of the steps before the output, with only the positions that feed it, so that every dilation
    shows (WaveNet's 1 to 512)."""
    if steps is not None:
        return _practice_drawing(analysis, steps)
    if analysis.receptive_field + 4 > MAX_POSITIONS:
        return _practice_drawing(analysis, min(analysis.receptive_field + 4, LOG_STEPS), feeding=True)._replace(log=True)
    count = min(max(analysis.receptive_field + 4, 16), MAX_POSITIONS)
    while True:
        drawing = _practice_drawing(analysis, count)
        if len(drawing.edges) <= MAX_EDGES or count <= MIN_POSITIONS:
            return drawing
        count //= 2


def _practice_drawing(analysis: Analysis, count: int, feeding: bool = False) -> Drawing:
    last = count - 1
    spec = analysis.spec
    needed = {spec.output: {last}}
    flattened = {p.layer.name: p.layer.inputs[0] for p in analysis.plans if p.layer.type == "Flatten"}
    edges = []
    for plan in reversed(analysis.plans):
        if not plan.used or plan.layer.name in flattened:
            continue
        layer = plan.layer
        for name in layer.inputs:
            name = flattened.get(name, name)  # a Dense head reads the sequence its Flatten folds
            kernel, dilation = (plan.kernel, plan.dilation) if plan.kernel else (1, 1)
            for t in sorted(needed.get(layer.name, ())):
                for j in range(max(0, kernel - 1 - t // max(dilation, 1)), kernel):  # taps inside the run
                    s = t - (kernel - 1 - j) * dilation
                    needed.setdefault(name, set()).add(s)
                    edges.append(Edge(layer.name, name, s, t))
    def steps(name: str) -> tuple[int, ...]:  # every step, or (feeding) those that feed the output step
        return tuple(sorted(needed.get(name, ()))) if feeding else tuple(range(count))

    rows = [Row(node.name, node.name, "input", steps(node.name)) for node in spec.inputs]
    rows += [Row(p.layer.name, f"{p.layer.name}  {p.layer.kind.practice_type or p.layer.type}"
                 + (f" k{p.kernel} d{p.dilation}" if p.kernel else ""), _style(p), steps(p.layer.name))
             for p in analysis.plans if p.used and p.layer.type != "Flatten"]
    field = (last - analysis.receptive_field + 1, last)
    return Drawing("practice", tuple(rows), tuple(sorted(set(edges))), 0, last, (), field, target=spec.output)


def collapsed(drawing: Drawing, hidden) -> Drawing:
    """The drawing without the rows of `hidden` (a `views.blocks.Collapse`) and every connection into or out
    of them; each band row keeps its own connections and says which blocks it stands for."""
    rows = tuple(row._replace(label=f"{row.label}\n{hidden.bands[row.name]}") if row.name in hidden.bands else row
                 for row in drawing.rows if row.name not in hidden.hidden)
    edges = tuple(e for e in drawing.edges if e.layer not in hidden.hidden and e.source not in hidden.hidden)
    keep = lambda marks: tuple(m for m in marks if m[0] not in hidden.hidden)  # noqa: E731
    return drawing._replace(rows=rows, edges=edges, zeros=keep(drawing.zeros), edge_positions=keep(drawing.edge_positions),
                            bands=tuple(name for name in hidden.bands if any(r.name == name for r in rows)))


def _bands(axes, drawing: Drawing, y: dict) -> None:
    for name in drawing.bands:
        axes.axhspan(y[name] - 0.45, y[name] + 0.45, color="#e8e8e8", zorder=0)


COLORS = {"input": "#333333", "layer": "#1f77b4", "pool": "#2ca02c", "merge": "#d62728", "head": "#9467bd"}
LEGEND = {"input": "input", "layer": "convolution / position-wise", "pool": "pooling", "merge": "merge",
          "head": "one value per window (Flatten, Dense head, global pool)"}


def _plot(axes, drawing: Drawing, title: str) -> None:
    if drawing.log:
        _plot_log(axes, drawing, title)
        return
    import matplotlib.patches as patches
    from matplotlib.ticker import MaxNLocator

    y = {row.name: i for i, row in enumerate(drawing.rows)}
    _bands(axes, drawing, y)
    folded = {row.name for row in drawing.rows}
    span = drawing.last - drawing.first + 1
    if drawing.field is not None:
        low = max(drawing.field[0], drawing.first) - 0.5
        axes.add_patch(patches.Rectangle((low, -0.4), drawing.field[1] + 0.5 - low, 0.8, color="#ffdd88", zorder=0))
    for edge in drawing.edges:
        source = edge.source if edge.source in folded else None
        if source is None:
            continue
        line, = axes.plot([edge.src, edge.dst], [y[source], y[edge.layer]], color="#888888", linewidth=0.6, zorder=1)
        line.set_gid(f"edge:{edge.layer}:{edge.source}:{edge.src}:{edge.dst}")
    for row in drawing.rows:
        axes.scatter(row.steps, [y[row.name]] * len(row.steps), s=max(4, 900 / span), color=COLORS[row.style], zorder=2)
        axes.text(drawing.first - 0.02 * span - 1, y[row.name], row.label, ha="right", va="center", fontsize=7)
    _styles(axes, drawing)
    if drawing.edge_positions:
        shown = [(s, y[n]) for n, s in drawing.edge_positions if n in y]
        axes.scatter([s for s, _ in shown], [r for _, r in shown], s=max(16, 2400 / span), facecolors="none",
                     edgecolors="#ff7f0e", linewidths=1.2, zorder=3, label="edge position (its taps reach a 'same' zero)")
    if drawing.zeros:
        shown = [(s, y[n]) for n, s in drawing.zeros if n in y]
        axes.scatter([s for s, _ in shown], [r for _, r in shown], s=max(4, 900 / span), facecolors="white",
                     edgecolors="#777777", linewidths=0.8, zorder=2, label="'same' padding: a zero of the window")
    if drawing.target in y:
        _star(axes, drawing.last, y[drawing.target], max(60, 4000 / span))
    if drawing.unused:
        axes.scatter(drawing.unused, [0] * len(drawing.unused), marker="x", s=30, color="#d62728", zorder=3,
                     label="input step that never reaches the output")

    if drawing.first > 0:
        axes.text(drawing.first - 0.5, -0.9, f"... {drawing.first:,} older steps", fontsize=7, ha="left")
    axes.set_xlim(drawing.first - 1, max([drawing.last] + [s for _, s in drawing.zeros]) + 1)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    _frame(axes, drawing, title, "time step" + (" in the window" if drawing.form == "per-step" else " of the run"))


def _star(axes, x: float, y: float, size: float) -> None:
    axes.scatter([x], [y], marker="*", s=size, color="#d62728", zorder=4, label="the output step whose connections are drawn")


def _styles(axes, drawing: Drawing) -> None:
    """A legend entry per row style the panel has."""
    for style in sorted({row.style for row in drawing.rows}, key=list(COLORS).index):
        axes.scatter([], [], color=COLORS[style], s=12, label=LEGEND[style])


def _frame(axes, drawing: Drawing, title: str, xlabel: str) -> None:
    """What both kinds of panel end with: the title, the rows' span, no y axis."""
    axes.set_title(title, fontsize=9)
    axes.set_ylim(-1.2, len(drawing.rows) - 0.3)
    axes.set_yticks([])
    axes.set_xlabel(xlabel, fontsize=8)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)


def _plot_log(axes, drawing: Drawing, title: str) -> None:
    """The practice form over its whole receptive field: x is the steps before the output step on a
    symmetric-log axis (linear below 1), so dilations 1 to 512 are all apart; only the positions that feed
    the output step are drawn, and their connections as one collection."""
    from matplotlib.collections import LineCollection
    from matplotlib.transforms import blended_transform_factory

    y = {row.name: i for i, row in enumerate(drawing.rows)}
    _bands(axes, drawing, y)
    lag = lambda s: drawing.last - s  # noqa: E731
    segments = [[(lag(e.src), y[e.source]), (lag(e.dst), y[e.layer])] for e in drawing.edges if e.source in y]
    axes.add_collection(LineCollection(segments, colors="#888888", linewidths=0.4, zorder=1))
    if drawing.field is not None:
        axes.axvspan(0, lag(drawing.field[0]) + 0.5, ymin=0, ymax=0.8 / (len(drawing.rows) + 0.9), color="#ffdd88", zorder=0)
    label_at = blended_transform_factory(axes.transAxes, axes.transData)
    for row in drawing.rows:
        axes.scatter([lag(s) for s in row.steps], [y[row.name]] * len(row.steps), s=6, color=COLORS[row.style], zorder=2)
        axes.text(-0.01, y[row.name], row.label, ha="right", va="center", fontsize=7, transform=label_at)
    _styles(axes, drawing)
    if drawing.target in y:
        _star(axes, 0, y[drawing.target], 60)
    axes.set_xscale("symlog", linthresh=1, linscale=0.3)
    axes.set_xlim(drawing.last + 1, -0.5)  # the oldest step on the left, the output step on the right
    _frame(axes, drawing, title, "steps before the output step (log scale; only the positions that feed it)")


def hidden_blocks(analysis: Analysis):
    """What a picture of `analysis` leaves out: the middle blocks of its runs of like blocks when it has
    more than COLLAPSE_ROWS rows, nothing otherwise (a `views.blocks.Collapse`)."""
    from convert.views.blocks import Collapse, collapse, repeated_blocks

    layers = [plan.layer for plan in analysis.plans if plan.used]
    if len(analysis.spec.inputs) + len(layers) <= COLLAPSE_ROWS:
        return Collapse(frozenset(), {})
    return collapse(layers, repeated_blocks(layers))


def draw(analysis: Analysis, path: str, form: str = "both", steps: int | None = None, expand: bool = False) -> None:
    """Write the picture to `path` (.svg, .png or .pdf); TooDeep for a network of more than MAX_ROWS tensors.
    Runs of like blocks are collapsed in a tall picture unless `expand`."""
    rows = len(analysis.spec.inputs) + sum(1 for plan in analysis.plans if plan.used)
    if rows > MAX_ROWS:
        raise TooDeep(f"the network has {rows:,} tensors to draw (a row each); a picture shows at most {MAX_ROWS}, "
                      "and one this deep could not be read: draw a spec of a part of it")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawings = [per_step_drawing(analysis) if f == "per-step" else practice_drawing(analysis, steps)
                for f in ("per-step", "practice") if form in (f, "both")]
    if not expand:
        hidden = hidden_blocks(analysis)
        drawings = [collapsed(d, hidden) for d in drawings]
    rows = max(len(d.rows) for d in drawings)
    figure, axes = plt.subplots(1, len(drawings), figsize=(9 * len(drawings), 1.2 + 0.22 * rows), squeeze=False)
    spec = analysis.spec
    titles = {"per-step": f"{spec.name}: per-step (window {analysis.window:,})",
              "practice": f"{spec.name}: practice (receptive field {analysis.receptive_field:,}; the connections "
                          "into the last step's output)"}
    for axis, drawing in zip(axes[0], drawings):
        _plot(axis, drawing, titles[drawing.form])
    figure.tight_layout()
    legend = {}
    for axis in axes[0]:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    figure.legend(list(legend.values()), list(legend), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=6,
                  fontsize=7, frameon=False)
    plt.rcParams["svg.hashsalt"] = "causalc"  # the same picture gives the same SVG bytes
    figure.savefig(path, metadata={"Date": None} if path.endswith(".svg") else None, bbox_inches="tight")
    plt.close(figure)
