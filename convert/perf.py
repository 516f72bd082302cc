"""Keeping the TensorFlow-free passes linear on very large specs."""

from __future__ import annotations

import functools
import gc


def without_cyclic_gc(function):
    """Run `function` with the cyclic garbage collector paused.

    The passes allocate many small objects and create no cycles worth collecting; left running, the
    collector rescans them all again and again, and a 20,000-layer spec takes quadratic time.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        paused = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if paused:
                gc.enable()

    return wrapper
