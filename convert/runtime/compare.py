"""How the runtime's own checks compare two outputs (import --practice, fold-batchnorm, export's ONNX
checks): the largest difference relative to the reference's largest value."""

from __future__ import annotations

import numpy as np


def relative_error(got, want) -> float:
    """max |got - want| over the whole output, relative to max |want|."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))
