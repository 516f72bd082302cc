"""Exact 'same' padding, planned (`same_padding: exact`; see `convert.ir.edges`): each layer's edge plan
from its kind, the edge construction's cost per layer, and the form the practice model takes. Pure
arithmetic: lint, explain and the lowering all read this one plan, none of them re-derives it."""

from __future__ import annotations

from typing import NamedTuple

from convert.ir import edges

PER_WINDOW_BELOW = 3.0  # the edge construction must save this factor of multiply-adds, else per-window evaluation


class EdgeCost(NamedTuple):
    """A layer of the exact 'same' practice model: its output's edge positions and its multiply-adds per
    output step."""

    edges: int
    width: int
    macs: int

    @property
    def per_window(self) -> bool:
        """Every position is an edge position: the layer computes each window's positions, as per-window
        evaluation does (no exact method can share them between windows)."""
        return self.width > 1 and self.edges == self.width


class SamePlan(NamedTuple):
    """The plan of an exact 'same' spec. `form` is "edges" (the edge construction) or "windows" (per-window
    evaluation: interior positions save work only where they are many, and gathered edge rows run at about
    a third of the speed of Keras's own convolutions, so the construction must save PER_WINDOW_BELOW times
    the multiply-adds of per-window evaluation)."""

    plans: dict  # spec layer -> its edge plan (convert.ir.edges: WindowPlan, CollapsePlan, MergePlan, PadPlan, Kept)
    layouts: dict  # spec tensor (inputs too) -> its Layout
    costs: dict  # spec layer -> EdgeCost of the edge construction
    windows: dict  # spec layer -> EdgeCost of per-window evaluation
    form: str

    @property
    def edge_macs(self) -> int:
        """Multiply-adds per output step of the edge construction."""
        return sum(cost.macs for cost in self.costs.values())

    @property
    def chosen(self) -> dict:
        """The costs of the form the practice model takes."""
        return self.windows if self.form == "windows" else self.costs


def same_plan(analysis) -> SamePlan:
    """The plan of an exact 'same' analysis, computed once per analysis (lint, explain and the lowering all
    ask for it)."""
    cached = analysis.__dict__.get("_same_plan")
    if cached is None:
        cached = _plan(analysis)
        object.__setattr__(analysis, "_same_plan", cached)  # a frozen dataclass: a cache, not state
    return cached


def _plan(analysis) -> SamePlan:
    layouts = {node.name: edges.input_layout(analysis.window) for node in analysis.spec.inputs}
    plans, costs, windows = {}, {}, {}
    for plan in analysis.plans:
        if not plan.used:
            continue
        layer = plan.layer
        ins = [analysis.tensors[name] for name in layer.inputs]
        found = layer.kind.edge_plan(plan, [layouts[name] for name in layer.inputs], ins)
        plans[layer.name] = found
        layouts[layer.name] = found.layout
        costs[layer.name] = EdgeCost(found.layout.edges, found.layout.width,
                                     found.macs(plan.practice.macs, plan.out.channels))
        windows[layer.name] = EdgeCost(plan.out.width, plan.out.width, plan.practice.step_macs)
    total = sum(cost.macs for cost in costs.values())
    form = "windows" if analysis.step_macs < PER_WINDOW_BELOW * total else "edges"
    return SamePlan(plans, layouts, costs, windows, form)
