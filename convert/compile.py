"""Writes a compiled spec's three outputs atomically: all are prepared in temporary files, then renamed."""

from __future__ import annotations

import os
import tempfile

from convert.emit_keras import build_practice_model
from convert.emit_map import weight_map_json
from convert.emit_python import practice_source
from convert.lower import Practice


def _temp(out_dir: str, suffix: str) -> str:
    handle, path = tempfile.mkstemp(prefix=".causalc-", suffix=suffix, dir=out_dir)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # mkstemp's 0600 would leak into the final files
    return path


def write_outputs(practice: Practice, out_dir: str) -> list[str]:
    """Write STEM.keras, STEM.map.json and STEM.py into out_dir; on any failure nothing is left behind."""
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.join(out_dir, practice.analysis.spec.name)
    temps: dict[str, str] = {}
    try:
        temps[stem + ".keras"] = _temp(out_dir, ".keras")
        build_practice_model(practice).save(temps[stem + ".keras"])
        for suffix, text in ((".map.json", weight_map_json(practice)), (".py", practice_source(practice))):
            temps[stem + suffix] = _temp(out_dir, suffix)
            with open(temps[stem + suffix], "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        for final, temp in temps.items():
            os.replace(temp, final)
    finally:
        for temp in temps.values():
            if os.path.exists(temp):
                os.remove(temp)
    return list(temps)
