"""Public names of streaming (`from convert.stream import StreamingModel`); see `convert.runtime.stream`."""

from convert.runtime.mulaw import MU, mu_law_decode, mu_law_encode
from convert.runtime.stream import StreamingModel

__all__ = ["MU", "StreamingModel", "mu_law_decode", "mu_law_encode"]
