"""What a kind may ask of the lowering, one context per form (the lowering's builders implement these).

Each kind lowers a layer in four forms: `lower` (the practice graph), `lower_edges` (the exact 'same'
practice graph), `per_step` (the per-step graph) and `per_window` (per-window evaluation inside the
practice model). Each receives the context of its form and returns the graph tensor that carries the
layer's output; the driver loop (`convert.lowering.builders.drive`) is the same for all four.
"""

from __future__ import annotations

from typing import Any, Protocol


class Context(Protocol):
    """Every form: the analysis, layers added under unique names, the graph tensor of a spec tensor."""

    analysis: Any  # convert.analysis.Analysis

    def add(self, name: str, cls: str, config: tuple, inputs: tuple[str, ...], plan=None, module: str = ...,
            op: str = ...) -> str: ...

    def tensor(self, name: str) -> str: ...

    def inputs(self, plan) -> tuple[str, ...]:
        """The graph tensors a spec layer reads, in order."""

    def integers(self, name: str) -> str:
        """A categorical input's integers at the step rate (what an Embedding reads)."""


class PracticeContext(Context, Protocol):
    padding: str  # "causal", or "valid" in exact warm-up

    def right_align(self, plan, inputs: tuple[str, ...]) -> tuple[str, ...]:
        """A merge's inputs cropped to end on the same step (exact warm-up)."""


class EdgeContext(PracticeContext, Protocol):
    """The exact 'same' practice graph: each call builds the layer from the kind's `edge_plan`."""

    def window(self, plan, cls: str, config: tuple) -> str: ...

    def collapse(self, plan, cls: str, config: tuple) -> str: ...

    def merge(self, plan, config: tuple) -> str: ...

    def zero_padding(self, plan) -> str: ...


class PerStepContext(Context, Protocol):
    """The per-step graph over one window (and per-window evaluation, which reuses it)."""

    def sequence(self, name: str) -> str:
        """A tensor as (batch, positions, channels)."""

    def align(self, merge, name: str) -> str:
        """A merge input brought to the merge's grid and width."""
