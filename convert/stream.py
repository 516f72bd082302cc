"""Public name of the streaming model (`from convert.stream import StreamingModel`); see `convert.runtime.stream`."""

from convert.runtime.stream import StreamingModel  # noqa: F401
from convert.runtime.mulaw import MU, mu_law_decode, mu_law_encode  # noqa: F401
