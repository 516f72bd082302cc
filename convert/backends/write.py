"""Writes outputs atomically: everything is prepared in temporary files beside the targets, then committed
as a set under a lock on the folder."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager

from convert.analysis import Analysis
from convert.backends.weight_map import weight_map_json
from convert.backends.python_source import source
from convert.core.files import remove_staged, staged_file, staged_folder
from convert.frontend.source import regular_or_absent
from convert.ir.graph import Graph


def _temp(out_dir: str, suffix: str) -> str:
    handle, path = tempfile.mkstemp(prefix=".causalc-", suffix=suffix, dir=out_dir)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # mkstemp's 0600 would leak into the final files
    return path


@contextmanager
def _locked(out_dir: str):
    """An exclusive lock on `out_dir` (its `.causalc.lock` file) while outputs are staged and committed:
    two causalc commands writing into one folder take turns instead of interleaving their files."""
    import fcntl

    fd = os.open(os.path.join(out_dir, ".causalc.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def _commit(staged: dict[str, str]) -> None:
    """Move every staged output to its final path as a set: each final path already there is first moved
    aside, and if any move fails, everything moved so far is put back."""
    done: list[tuple[str, str | None]] = []  # (final, its old content moved aside, or None)
    try:
        for final, temp in staged.items():
            old = None
            if os.path.lexists(final):
                if os.path.isfile(temp) and os.path.isfile(final) and not os.path.islink(final):
                    os.chmod(temp, stat.S_IMODE(os.stat(final).st_mode))  # a rewritten output keeps its mode
                old = _temp(os.path.dirname(final) or ".", ".old")
                os.remove(old)
                os.rename(final, old)
            done.append((final, old))
            os.rename(temp, final)
    except BaseException:
        for final, old in reversed(done):  # every one put back, whatever fails on the way
            try:
                if os.path.lexists(final) and old is not None:
                    _remove(final)
                if old is not None:
                    os.rename(old, final)
                elif os.path.lexists(final):
                    _remove(final)
            except OSError:
                pass
        raise
    for _, old in done:
        if old is not None:
            _remove(old)


@contextmanager
def atomic_files(out_dir: str):
    """Yields `new(final_path) -> temp_path` (and `new(final_path, folder=True)` for a folder); on success
    the outputs replace their final paths as a set, under the folder's lock; on any failure or interrupt
    none does and nothing temporary is left. A final path that is a folder where a file is written (or the
    reverse) is an error naming that path, before anything is written."""
    out_dir = out_dir or "."
    created = not os.path.isdir(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    staged: dict[str, str] = {}
    names: list[str] = []  # every staged path, recorded before it is made
    committed = False

    def new(final: str, folder: bool = False) -> str:
        if os.path.isdir(final) != folder and os.path.lexists(final) and not os.path.islink(final):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", final) if not folder else \
                NotADirectoryError(errno.ENOTDIR, "Not a directory", final)
        if not folder:
            regular_or_absent(final, "an output")  # a FIFO or a device is refused, not replaced
        name = os.path.basename(final)
        suffix = "." + name.split(".", 1)[1] if "." in name else ""  # Keras checks the `.keras` suffix
        staged[final] = staged_folder(out_dir, names) if folder else staged_file(out_dir, suffix, names)
        return staged[final]

    try:
        with _locked(out_dir):
            yield new
            _commit(staged)
            committed = True
    finally:
        remove_staged(names)
        if created and not committed:  # a folder made for outputs that never came is not left behind
            _remove(os.path.join(out_dir, ".causalc.lock"))
            try:
                os.rmdir(out_dir)
            except OSError:
                pass


def write_outputs(analysis: Analysis, practice: Graph, per_step: Graph, out_dir: str) -> list[str]:
    """Write STEM.keras, STEM.map.json and STEM.py of the lowered graphs into out_dir."""
    stem = os.path.join(out_dir, analysis.spec.name)
    with atomic_files(out_dir) as new:
        from convert.backends.keras_model import build_model  # Keras only when a model is written

        build_model(practice).save(new(stem + ".keras"))
        for suffix, text in ((".map.json", weight_map_json(practice, per_step)), (".py", source(practice, per_step))):
            with open(new(stem + suffix), "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
    return [stem + suffix for suffix in (".keras", ".map.json", ".py")]


def save_model(model, path: str) -> None:
    """Save one Keras model atomically."""
    with atomic_files(os.path.dirname(path)) as new:
        model.save(new(path))
