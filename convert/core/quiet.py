"""TensorFlow's C++ start-up lines (absl, oneDNN, CUDA) are not for users: they are written to file
descriptor 2 directly, past Python's sys.stderr, so quieting them means pointing that descriptor away."""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def quiet_stderr():
    """File descriptor 2 sent to /dev/null: TensorFlow's C++ start-up lines (absl, oneDNN, CUDA) are
    written there directly, past Python's sys.stderr. Python errors raised meanwhile still propagate."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
