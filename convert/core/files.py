"""Staged files: a new file's name is recorded before the file is made, so that whatever stops a command
(an error, Ctrl-C, SIGTERM) between the two, its cleanup finds every file it staged."""

from __future__ import annotations

import os
import secrets


def staged_file(directory: str, suffix: str, names: list[str], mode: int = 0o666) -> str:
    """A new empty file `.causalc-XXXXXXXX{suffix}` in `directory`, its path appended to `names` first;
    `mode` less the umask, as `open` would give it."""
    while True:
        path = os.path.join(directory, f".causalc-{secrets.token_hex(6)}{suffix}")
        names.append(path)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
            return path
        except FileExistsError:
            names.pop()


def staged_folder(directory: str, names: list[str]) -> str:
    """A new empty folder `.causalc-XXXXXXXX` in `directory`, its path appended to `names` first."""
    while True:
        path = os.path.join(directory, f".causalc-{secrets.token_hex(6)}")
        names.append(path)
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            names.pop()


def remove_staged(names: list[str]) -> None:
    """Every staged file that is still there removed (a folder with what it holds)."""
    import shutil

    for path in names:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            try:
                os.remove(path)
            except OSError:
                pass
