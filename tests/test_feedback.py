"""What generation feeds back and training targets, decided from the spec alone (no TensorFlow): drawn
over output sizes, activations and signals, against the rule stated independently here."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convert.core.errors import BadValue
from convert.pipeline import check_text
from convert.runtime.feedback import output_kind


def _expected(units: int, activation: str, channels: int, categories: int) -> str | None:
    """The rule, from docs/streaming.md: a distribution over K levels feeds back as levels (categorical signal of
    K), one-hot vectors (K channels) or mu-law samples (one channel, K a power of two from 16); any other
    activation with as many units as channels feeds back as it is."""
    if activation in ("softmax", "log_softmax") and units >= 2:
        if categories == units:
            return "level"
        if not categories and channels == units:
            return "one-hot"
        if not categories and channels == 1 and units in {2 ** k for k in range(4, 31)}:
            return "mu-law"
        return None
    return "regression" if not categories and units == channels else None


@settings(max_examples=150, deadline=None)
@given(units=st.one_of(st.integers(1, 40), st.sampled_from([15, 16, 17, 48, 64, 100, 255, 256, 257, 1000, 1024])),
       activation=st.sampled_from(["softmax", "log_softmax", "linear", "tanh", "sigmoid"]),
       channels=st.integers(1, 4), categories=st.sampled_from([0, 0, 2, 16, 17, 256]))
def test_what_is_fed_back_follows_the_rule(units, activation, channels, categories):
    signal = f"{{name: x, categories: {categories}}}" if categories else f"{{name: x, channels: {channels}}}"
    first = "{type: Embedding, name: e, input_dim: %d, output_dim: 2}" % categories if categories else \
        "{type: Conv1D, name: c, filters: 2, kernel_size: 2}"
    text = (f"inputs: [{signal}]\nlayers:\n  - {first}\n"
            f"  - {{type: Conv1D, name: out, filters: {units}, kernel_size: 1, activation: {activation}}}\n")
    checked = check_text(text, "s.yaml")
    assert checked.ok, checked.diagnostics
    want = _expected(units, activation, channels, categories)
    if want is None:
        with pytest.raises(BadValue, match="cannot feed the output back"):
            output_kind(checked.analysis)
    else:
        assert output_kind(checked.analysis) == want
