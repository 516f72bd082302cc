"""Lowering: an analysed spec to graphs of Keras layers (practice, per-step, exact 'same')."""

from convert.lowering.per_step import per_step_graph
from convert.lowering.practice import WARMUPS, check_practice, lower

__all__ = ["WARMUPS", "check_practice", "lower", "per_step_graph"]
