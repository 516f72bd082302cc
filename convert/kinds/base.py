"""What a spec kind is: its fields, arity, per-step shape rule, practice form, Keras layers and weights.

A kind is one class; the defaults here describe a position-wise, single-input kind without weights
(Activation), and each kind module overrides what differs. The analysis, the lowering, the reports, the
schema and the weight map call these methods and never test a layer's type.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from convert.ir import edges
from convert.ir.graph import activation
from convert.kinds.contexts import EdgeContext, PerStepContext, PracticeContext
from convert.kinds.fields import COMMON, Field

# `layer` is a convert.frontend.spec.Layer and `plan` a convert.analysis.LayerPlan: kinds sit below
# the passes that use them and import neither.


class Meta(NamedTuple):
    """What a tensor is regardless of the window: channels, input steps between positions, and whether the
    per-step model holds it as (batch, channels) with no positions (after a Flatten)."""

    channels: int  # 0 for a Flatten's n * c, known once the window is
    grid: int
    flat: bool = False
    categories: int = 0  # a categorical input's K: integers an Embedding reads (others read K one-hot channels)


class Tensor(NamedTuple):
    """A per-step tensor for a given window: positions, channels, grid, and the steps it sees."""

    width: int
    channels: int
    grid: int
    receptive_field: int
    flat: bool = False
    folds: tuple[int, int] | None = None  # a Flatten's (width, channels): a Dense after it folds them into its kernel

    @property
    def practice_channels(self) -> int:
        """Channels of the practice tensor: a flattened one is still its (width, channels) sequence there."""
        return self.folds[1] if self.folds else self.channels


def geometry_once(layer, make) -> Geometry:
    """A layer's Geometry, made by `make()` once: lint's checks ask for it thousands of times. Kept beside
    the frozen layer's fields, not one of them (equality and hashing ignore it)."""
    known = layer.__dict__.get("_geometry")
    if known is None:
        known = make()
        object.__setattr__(layer, "_geometry", known)
    return known


class Geometry(NamedTuple):
    """How a windowed kind (convolution, pooling) consumes its input."""

    extent: int  # input positions one output position covers: (k-1)*d + 1, or the pool size
    stride: int
    spacing: int = 1  # between the taps inside the extent: the dilation
    same: bool = False  # Keras's 'same' padding (only with `same_padding: exact`)

    def out_width(self, n: int) -> int:
        """Output positions from `n` input positions: valid, or Keras's 'same' (ceil(n / stride))."""
        return -(-n // self.stride) if self.same else (n - self.extent) // self.stride + 1

    def fits(self, n):
        """Whether `n` input positions are enough (and, unpadded, consumed exactly); `n` may be an int or a
        NumPy array of widths (window search)."""
        return n >= 1 if self.same else (n >= self.extent) & ((n - self.extent) % self.stride == 0)

    def pad(self, n: int) -> tuple[int, int]:
        """Keras's zeros (left, right) around `n` input positions: total = (m-1)*stride + extent - n, left = total // 2."""
        if not self.same:
            return 0, 0
        total = max((self.out_width(n) - 1) * self.stride + self.extent - n, 0)
        return total // 2, total - total // 2

    def taps(self, position: int, n: int = 0) -> range:
        """The input positions output `position` reads (positions counted from the oldest; with 'same'
        padding some fall outside 0..n-1: those are padding)."""
        start = position * self.stride - self.pad(n)[0]
        return range(start, start + self.extent, self.spacing)


def clip(taps: range, low: int, high: int) -> range:
    """The members of `taps` (a range of positive step) from `low` to `high` - 1, as a range: computed, never
    iterated, however long the range."""
    first = taps.start if taps.start >= low else taps.start + -(-(low - taps.start) // taps.step) * taps.step
    return range(first, min(taps.stop, high), taps.step)


class Practice(NamedTuple):
    """A layer's practice form: its kernel over the stride-1 sequence, its dilation, and its cost."""

    kernel: int = 0  # 0 where the practice layer has no kernel
    dilation: int = 0
    in_channels: int = 0  # channels the practice layer reads
    params: int = 0
    macs: int = 0  # practice multiply-adds per output time step
    step_macs: int = 0  # per-step multiply-adds per window

    @property
    def reach(self) -> int:
        """Steps before the current one that the practice layer reads: its causal left padding."""
        return (self.kernel - 1) * self.dilation if self.kernel else 0


class Kind:
    """A spec layer type. Subclasses set the class attributes and override the rules that differ."""

    type: str = ""  # the Keras class name, as written in specs
    aliases: tuple[str, ...] = ()
    own_fields: dict[str, Field] = {}
    many_inputs = False  # merges take two or more inputs; every other kind exactly one
    practice_type: str | None = None  # what `explain` calls the practice layer; default: the type
    weighted = False
    elementwise = False  # maps each value on its own, so it commutes with Flatten (see `applies_elementwise`)
    reads_integers = False  # reads a categorical input's integers (Embedding), not their one-hot vectors
    practice_layer = True  # False: the kind adds no practice layer of its own (a Flatten folds into its Dense)

    @property
    def fields(self) -> dict[str, Field]:
        return {**COMMON, **self.own_fields}

    # ---- per-step shape (no window needed) ----

    def geometry(self, layer) -> Geometry | None:
        """How a windowed kind consumes its input; None for kinds that keep every position."""
        return None

    def check(self, layer, out: list) -> None:
        """Checks of the layer's own fields alone (no input needed): run on every layer that reads cleanly,
        whatever errors the rest of the spec has, so that one run reports them all."""

    def structure(self, layer, ins: list[Meta], out: list) -> Meta | None:
        """The output's channels and grid from the inputs'; appends diagnostics and returns None on an error."""
        return ins[0]

    def check_users(self, layer, users_of, output: str, out: list) -> None:
        """Checks that depend on the layers this one feeds (`users_of(name)` lists a tensor's readers)."""

    # ---- widths for a window, and their exact inverse ----

    def width(self, layer, widths: list[int], grids: list[int], grid: int) -> int:
        geometry = self.geometry(layer)
        return widths[0] if geometry is None else geometry.out_width(widths[0])

    def reads(self, layer, position: int, in_width: int, width: int, in_grid: int, grid: int) -> range:
        """The positions of an input that output `position` depends on (positions counted from the oldest)."""
        geometry = self.geometry(layer)
        if geometry is None:
            return range(position, position + 1)
        return clip(geometry.taps(position, in_width), 0, in_width)

    def read_span(self, layer, first: int, last: int, in_width: int, width: int, in_grid: int, grid: int) -> list:
        """The union of `reads` for outputs `first`..`last` (inclusive), as ranges (or iterables of positions):
        what the reached-positions trace marks for a run of reached outputs. A windowed kind's taps are one
        range per tap over the run, one range when the taps of neighbouring outputs touch."""
        if type(self).reads is not Kind.reads:  # a kind that reads in its own way: output by output
            return [self.reads(layer, p, in_width, width, in_grid, grid) for p in range(first, last + 1)]
        geometry = self.geometry(layer)
        if geometry is None:
            return [range(first, last + 1)]
        stride = geometry.stride
        start = first * stride - geometry.pad(in_width)[0]  # the first output's oldest tap
        end = start + (last - first) * stride  # the last output's oldest tap
        if geometry.spacing == 1 and geometry.extent >= stride:
            return [clip(range(start, end + geometry.extent), 0, in_width)]
        return [clip(range(start + j, end + j + 1, stride), 0, in_width)
                for j in range(0, geometry.extent, geometry.spacing)]

    def need(self, layer, width: int, in_grid: int, grid: int) -> int:
        """The smallest input width that gives `width` output positions (the inverse of `width`)."""
        geometry = self.geometry(layer)
        if geometry is None:
            return width
        return (width - 1) * geometry.stride + (1 if geometry.same else geometry.extent)

    # ---- practice form ----

    def applies_elementwise(self, layer) -> bool:
        """True when the layer maps each value on its own, so it may stand between a Flatten and its Dense."""
        return self.elementwise

    def output(self, layer, ins: list[Tensor], width: int, meta: Meta) -> Tensor:
        """The output tensor, before the practice kernel's reach is added to its receptive field; an
        elementwise layer after a Flatten keeps the flattened shape the Dense folds."""
        folds = ins[0].folds if self.applies_elementwise(layer) else None
        channels = ins[0].channels if folds else meta.channels  # a Flatten's n * c, known now
        return Tensor(width, channels, meta.grid, max(t.receptive_field for t in ins), meta.flat, folds)

    def practice(self, layer, ins: list[Tensor], out: Tensor) -> Practice:
        return Practice(in_channels=ins[0].channels)

    def note(self, plan) -> str | None:
        """What `explain` should say of this layer's practice form beyond the table, if anything."""
        return None

    # ---- Keras layers ----

    def lower(self, plan, ctx: PracticeContext) -> str:
        """Add the practice layers (through `ctx.add`); returns the graph tensor that carries the output."""
        return ctx.add(plan.layer.name, self.type, self.config(plan.layer), ctx.inputs(plan), plan)

    def edge_plan(self, plan, layouts: list, ins: list[Tensor]):
        """The layer's exact 'same' plan (`convert.ir.edges`) over its inputs' layouts: a position-wise layer
        keeps its input's positions."""
        return edges.Kept(layouts[0])

    def lower_edges(self, plan, ctx: EdgeContext) -> str:
        """The layer in the exact 'same' practice model, from its `edge_plan`: a position-wise layer applies
        to every slot as it is."""
        return self.lower(plan, ctx)

    def per_step(self, plan, ctx: PerStepContext) -> str:
        """Add the per-step Keras layers; returns the graph tensor that carries the output."""
        return ctx.add(plan.layer.name, self.type, self.config(plan.layer), (ctx.tensor(plan.layer.inputs[0]),), plan)

    def per_window(self, plan, ctx: PerStepContext) -> str:
        """The layer in per-window evaluation inside the practice model (`convert.lower_same`): its per-step
        form over every window, with the practice model's weights."""
        return self.per_step(plan, ctx)

    def config(self, layer) -> tuple[tuple[str, Any], ...]:
        """Keras constructor arguments shared by both forms: every field the layer has a value for."""
        return tuple((key, activation(value) if key == "activation" else value)
                     for key, value in ((key, layer.config.get(key)) for key in self.own_fields) if value is not None)

    # ---- weights ----

    def weights(self, plan) -> dict | None:
        """The weight-map entry: {"practice": {weight: shape}, "per_step": {...}, "transform": ...}; None
        for kinds without weights."""
        return None


class Collapsing(Kind):
    """A kind that makes one position of all its input's (Flatten, global pooling): width 1 whatever the window."""

    def width(self, layer, widths, grids, grid):
        return 1

    def need(self, layer, width, in_grid, grid):
        return 1

    def reads(self, layer, position, in_width, width, in_grid, grid):
        return range(in_width)

    def read_span(self, layer, first, last, in_width, width, in_grid, grid):
        return [range(in_width)]


def window_edges(plan, layouts, ins):
    """A convolution, pool or pointwise Dense: interior positions through V, edge positions as rows."""
    geometry = plan.layer.kind.geometry(plan.layer) or Geometry(1, 1)
    return edges.window_plan(layouts[0], geometry, plan.practice.kernel or 1, ins[0].grid)


def collapse_edges(plan, layouts, ins):
    """A Flatten + Dense head or a global pool: one position, the exact value for the window ending at t."""
    return edges.collapse_plan(layouts[0], ins[0].grid)
