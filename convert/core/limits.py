"""Limits on what a spec may ask for, checked before anything is allocated (the README states them).
`causalc --max-parameters N` raises the first."""

from __future__ import annotations

DEFAULT_MAX_PARAMETERS = 268_435_456  # 2**28 parameters: 1 GiB of float32 weights (E211 above)
DEFAULT_MAX_STEP_VALUES = 16_777_216  # 2**24 activations per time step and sequence: 64 MiB (E212 above)
MAX_PARAMETERS = DEFAULT_MAX_PARAMETERS
MAX_STEP_VALUES = DEFAULT_MAX_STEP_VALUES


def plan_taps() -> int:
    """Positions times kernel taps that exact 'same' padding (and reachability) may trace: half the values
    per step, which keeps lint of a spec that reaches it within seconds."""
    return MAX_STEP_VALUES // 2
