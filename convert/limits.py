"""Limits on what a spec may ask for, checked before anything is allocated (the README states them).
`causalc --max-parameters N` raises the first."""

from __future__ import annotations

MAX_PARAMETERS = 268_435_456  # 2**28 parameters: 1 GiB of float32 weights (E211 above)
