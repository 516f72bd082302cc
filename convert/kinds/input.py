"""Model inputs: nodes of the IR like any layer.

One `input:` is a sequence input named `input`. `inputs:` lists several, in the order every model and
the stream take them:

- a sequence input (`channels`, `window`): the modelled signal or any signal at the step rate; sequence
  inputs share the window;
- `hop: H`: one frame per H steps (local conditioning), repeated to the step rate inside the practice
  model. Alignment: the output at step t, the prediction for step t+1, sees frame (t+1) // H, the frame
  of the step it predicts (as r9y9's WaveNet vocoder); the per-step model takes its window's steps of
  that step-rate sequence;
- `global: true`: one vector per sequence, the same at every position;
- `categories: K`: integers in 0..K-1 (e.g. mu-law levels); an Embedding reads them as they are, any
  other layer reads their one-hot vectors (K channels). May be `global`.

Every input is a tensor of the window's width at grid 1 in the analysis: what differs is only how the
models receive it (`shape`, `dtype`) and expand it (convert.builders).
"""

from __future__ import annotations

from convert.kinds.base import Meta, Tensor
from convert.kinds.fields import BOOLEAN, CHANNELS, INT_MAX, REQUIRED, STRING, Field, positive

FIELDS = {
    "channels": Field(CHANNELS, REQUIRED, "Channels of each input time step."),
    "window": Field(positive(INT_MAX, False), None,
                    "Steps the per-step network sees; inferred (the smallest that fits) when absent."),
}
CATEGORIES_MAX = 2**24  # an Embedding's rows; the one-hot of more would not be a sensible tensor

LIST_FIELDS = {
    "name": Field(STRING, REQUIRED, "The input's name; layers take it with `inputs:`."),
    "channels": Field(CHANNELS, None, "Channels of each step (or frame, or vector); not with `categories`."),
    "window": FIELDS["window"],
    "hop": Field(positive(INT_MAX, False), None, "Steps per frame: local conditioning at a lower rate, "
                 "repeated inside the model; the output at t sees frame (t+1) // hop."),
    "global": Field(BOOLEAN, False, "One vector per sequence, broadcast to every position."),
    "categories": Field(positive(CATEGORIES_MAX, False), None,
                        "Integer input with this many categories (0..K-1): an Embedding reads it; other layers "
                        "read its one-hot vectors."),
}


def kind(node) -> str:
    """"sequence", "hop" or "global" (a categorical input is one of these too)."""
    return "global" if node.is_global else "hop" if node.hop else "sequence"


def meta(node) -> Meta:
    """Every input is a step-rate tensor at grid 1; a categorical one has its categories' one-hot channels."""
    return Meta(node.channels, 1, categories=node.categories or 0)


def tensor(node, window: int) -> Tensor:
    return Tensor(window, node.channels, 1, 1)


def shape(node, length: int | None, form: str) -> tuple:
    """The Keras input shape without the batch: `length` steps (None: any); a hop input in the practice
    model takes frames (any number); a global input no positions; a categorical input no channels."""
    if node.is_global:
        steps: tuple = ()
    else:
        steps = (None,) if node.hop and form == "practice" else (length,)
    return steps + (() if node.categories else (node.channels,))


def dtype(node) -> str:
    return "int32" if node.categories else "float32"


def describe(node) -> dict:
    """The input as the weight map and `explain --format json` state it."""
    out = {"name": node.name, "channels": node.channels}
    if node.categories:
        out["categories"] = node.categories
    if node.hop:
        out["hop"] = node.hop
    if node.is_global:
        out["global"] = True
    return out


def summary(described: dict) -> str:
    """`mel: 80 channel(s), one frame per 256 steps ...` from `describe`, as `explain` prints it."""
    categories, hop = described.get("categories"), described.get("hop")
    what = f"integers in 0..{categories - 1}" if categories else f"{described['channels']} channel(s)"
    rate = f", one frame per {hop} steps (the output at t sees frame (t+1) // {hop})" if hop else \
        ", one per sequence" if described.get("global") else ", every step"
    return f"{described['name']}: {what}{rate}"
