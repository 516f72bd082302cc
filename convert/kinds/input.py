"""The model input: a node of the IR like any layer, with its channels and the window it sees."""

from __future__ import annotations

from convert.kinds.base import Meta, Tensor
from convert.kinds.fields import CHANNELS, INT_MAX, REQUIRED, Field, positive

FIELDS = {
    "channels": Field(CHANNELS, REQUIRED, "Channels of each input time step."),
    "window": Field(positive(INT_MAX, False), None,
                    "Steps the per-step network sees; inferred (the smallest that fits) when absent."),
}


def meta(node) -> Meta:
    """A sequence input: every step, grid 1."""
    return Meta(node.channels, 1)


def tensor(node, window: int) -> Tensor:
    return Tensor(window, node.channels, 1, 1)
