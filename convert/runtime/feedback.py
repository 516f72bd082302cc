"""What generation feeds back, decided from the spec (no TensorFlow: `train` decides its targets with it
before TensorFlow starts). See `convert.runtime.generation` for the kinds."""

from __future__ import annotations
from convert.core.errors import BadValue

DISTRIBUTIONS = ("softmax", "log_softmax")
SUPPORTED = ("generate feeds back: a softmax (or log_softmax) over K levels into a one-channel signal (as "
             "mu-law samples; K a power of two from 16), a K-channel signal (as one-hot vectors) or a "
             "categorical signal of K categories (as levels); or, with another activation, as many units as "
             "the signal's channels (regression)")


def output_kind(analysis) -> str:
    """How the output is fed back to the signal: 'mu-law', 'one-hot', 'level' or 'regression'."""
    spec = analysis.spec
    signal = spec.signal
    units = analysis.tensors[spec.output].channels
    activation = spec.layer(spec.output).config.get("activation")
    if activation in DISTRIBUTIONS and units >= 2:
        if signal.categories == units:
            return "level"
        if not signal.categories and signal.channels == units:
            return "one-hot"
        if not signal.categories and signal.channels == 1 and units >= 16 and units & (units - 1) == 0:
            return "mu-law"
    elif not signal.categories and units == signal.channels:
        return "regression"
    have = (f"a {activation or 'linear'} output of {units} unit(s) and a signal `{signal.name}` of "
            + (f"{signal.categories} categories" if signal.categories else f"{signal.channels} channel(s)"))
    raise BadValue(f"cannot feed the output back: {have}; {SUPPORTED}")
