"""The public Python API (`import convert.api as causalc`); implemented in `convert.runtime.api`."""

from convert.runtime.api import (ModelFileError, WeightMismatch, from_step, load, load_model, per_step_model,  # noqa: F401
                                 practice_model, practice_weights, to_step, weight_map)
from convert.frontend.diagnostics import SpecError  # noqa: F401
