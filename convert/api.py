"""The public Python API (`import convert.api as causalc`); implemented in `convert.runtime.api`."""

from convert.core.diagnostics import SpecError
from convert.importers.keras import ModelImportError
from convert.runtime.api import (ModelFileError, WeightMismatch, from_step, load, load_model, per_step_model,
                                 practice_model, practice_weights, to_step, weight_map)
from convert.runtime.carry import import_spec
from convert.runtime.predict import chunks as predict_chunks
from convert.runtime.predict import predict
from convert.runtime.recordings import read as read_recording

__all__ = ["ModelFileError", "ModelImportError", "SpecError", "WeightMismatch", "from_step", "import_spec", "load",
           "load_model", "per_step_model", "practice_model", "practice_weights", "predict", "predict_chunks",
           "read_recording", "to_step", "weight_map"]
