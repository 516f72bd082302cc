"""step.json: what an exported step takes, returns and keeps, so that any runtime can drive it. NumPy-free,
TensorFlow-free.

The step is a pure function `step(x..., t, ring_*...) -> (y, ring_*_column...)`. Its state is the step
counter `t` and one ring per tensor a windowed layer reads: a ring of length L holds that tensor's last L
steps, the step at time s in row s % L. The step reads the rings (rows of earlier steps only) and returns
each ring's column, the tensor's value at step t; the host then writes

    ring[t % L] = ring_column        (for every ring)
    t = t + 1

so nothing is copied per step but the columns: a step costs the same whatever the receptive field. The
state starts from initial_state.npz (one array per state, by name).
"""

from __future__ import annotations

import json
import os

from convert.core.errors import BadValue

MANIFEST = "step.json"
SPEC = "spec.yaml"  # the spec, beside the step: run-step checks what it is fed against it
STATE = "initial_state.npz"
FORMAT = "causalc-step"
VERSION = 1


def read(folder: str) -> dict:
    """The manifest of the step exported to `folder`, checked for the fields run-step uses."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isdir(folder):
        raise BadValue(f"{folder}: no such folder (write one with causalc export-step)")
    if not os.path.isfile(path):
        raise BadValue(f"{folder} holds no {MANIFEST}: it was not written by causalc export-step (or by an "
                       "older version: export the step again)")
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    except (OSError, ValueError) as error:
        raise BadValue(f"cannot read {path}: {error}") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise BadValue(f"{path} is not a causalc step manifest")
    if content.get("version") != VERSION:
        raise BadValue(f"{path} is version {content.get('version')}; this causalc reads version {VERSION}: "
                       "export the step again")
    return content
