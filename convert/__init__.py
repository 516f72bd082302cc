"""causalc: compile per-step autoregressive 1-D networks into stride-1 causal dilated networks."""

from __future__ import annotations

import importlib.machinery
import sys

__version__ = "0.1.0"


class _RegisterWhenKerasLoads:
    """Registers causalc's Keras layers right after `keras` is imported, without importing it ourselves.

    `import convert` must make saved practice models loadable, yet `causalc lint` and `explain` must
    not pay for importing TensorFlow. (A meta path finder; importlib.abc is not imported for speed.)
    """

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            import convert.layers.edges  # noqa: F401  (registers every layer: edges imports convert.layers)
            import convert.layers.inputs  # noqa: F401

        spec.loader.exec_module = exec_then_register
        return spec


if "keras" in sys.modules:
    import convert.layers.edges  # noqa: F401
    import convert.layers.inputs  # noqa: F401
elif not any(isinstance(finder, _RegisterWhenKerasLoads) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenKerasLoads())
