"""The limits checked before anything is built (E212) and the warning that exact 'same' padding costs what
per-window evaluation costs (W306): from figures the analysis and its 'same' plan already hold, never by
lowering the model."""

from __future__ import annotations

from convert.analysis.same import same_plan
from convert.analysis.shapes import Analysis
from convert.core import limits
from convert.core.diagnostics import Diagnostic


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


def values_per_step(analysis: Analysis):
    """(running total, layer plan) after each used layer: the practice model's activations per time step (per
    sequence), one value per channel, per edge slot with exact 'same' padding, per window position in its
    per-window form."""
    same = same_plan(analysis) if analysis.spec.same_padding == "exact" else None
    total = sum(node.channels for node in analysis.spec.inputs)
    for plan in analysis.plans:
        if not plan.used:
            continue
        if same is not None and same.form == "windows":
            total += plan.out.width * plan.out.channels
        elif same is not None:  # a layer of its own (a Flatten has none): its slots
            slots = same.layouts[plan.layer.name].slots if plan.layer.kind.practice_layer else 0
            total += slots * plan.out.practice_channels
        else:
            total += plan.out.practice_channels
        yield total, plan


def peak_values(analysis: Analysis) -> int:
    """The practice model's activations per time step of a sequence, over all its layers (what memory
    estimates multiply by steps and sequences)."""
    return max((total for total, _ in values_per_step(analysis)), default=0)


def step_values(analysis: Analysis) -> Diagnostic | None:
    """E212 at the layer where the practice model's activations per time step (`values_per_step`) pass
    `limits.MAX_STEP_VALUES`."""
    for total, plan in values_per_step(analysis):
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
    costs = same_plan(analysis).costs
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
