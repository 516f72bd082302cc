"""Writes outputs atomically: everything is prepared in temporary files beside the targets, then renamed."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager

from convert.analysis import Analysis
from convert.backends.keras_model import build_model
from convert.backends.weight_map import weight_map_json
from convert.backends.python_source import source
from convert.lower import lower, per_step_graph


def _temp(out_dir: str, suffix: str) -> str:
    handle, path = tempfile.mkstemp(prefix=".causalc-", suffix=suffix, dir=out_dir)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # mkstemp's 0600 would leak into the final files
    return path


@contextmanager
def atomic_files(out_dir: str):
    """Yields `new(final_path) -> temp_path`; on success every temp file replaces its final path, on any
    failure none does and no temp file is left."""
    os.makedirs(out_dir or ".", exist_ok=True)
    temps: dict[str, str] = {}

    def new(final: str) -> str:
        name = os.path.basename(final)
        suffix = "." + name.split(".", 1)[1] if "." in name else ""  # Keras checks the `.keras` suffix
        temps[final] = _temp(out_dir or ".", suffix)
        return temps[final]

    try:
        yield new
        for final, temp in temps.items():
            os.replace(temp, final)
    finally:
        for temp in temps.values():
            if os.path.exists(temp):
                os.remove(temp)


def write_outputs(analysis: Analysis, out_dir: str, warmup: str = "causal") -> list[str]:
    """Write STEM.keras, STEM.map.json and STEM.py into out_dir."""
    practice, per_step = lower(analysis, warmup), per_step_graph(analysis)
    stem = os.path.join(out_dir, analysis.spec.name)
    with atomic_files(out_dir) as new:
        build_model(practice).save(new(stem + ".keras"))
        for suffix, text in ((".map.json", weight_map_json(practice, per_step)), (".py", source(practice, per_step))):
            with open(new(stem + suffix), "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
    return [stem + suffix for suffix in (".keras", ".map.json", ".py")]


def save_model(model, path: str) -> None:
    """Save one Keras model atomically."""
    with atomic_files(os.path.dirname(path)) as new:
        model.save(new(path))
