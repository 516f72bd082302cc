"""Limits on what a spec may ask for, checked before anything is allocated (docs/diagnostics.md states them).
`causalc --max-parameters N` raises the first."""

from __future__ import annotations

DEFAULT_MAX_PARAMETERS = 268_435_456  # 2**28 parameters: 1 GiB of float32 weights (E211 above)
DEFAULT_MAX_STEP_VALUES = 16_777_216  # 2**24 activations per time step and sequence: 64 MiB (E212 above)
MAX_PARAMETERS = DEFAULT_MAX_PARAMETERS
MAX_STEP_VALUES = DEFAULT_MAX_STEP_VALUES


def plan_taps() -> int:
    """Positions times kernel taps that exact 'same' padding (and reachability) may trace: half the values
    per step, which keeps lint of a spec that reaches it within seconds."""
    return MAX_STEP_VALUES // 2


DEFAULT_MAX_MEMORY = 8 * 2**30  # bytes that what causalc sizes from its inputs and options may take (TooLarge above)
MAX_MEMORY = DEFAULT_MAX_MEMORY


def size_text(size: float) -> str:
    """Bytes in words: 1.5 GiB, 512 MiB, 12 KiB, 100 bytes."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}".replace(".0 ", " ")
    return f"{int(size):,} bytes"


def parse_size(text: str) -> int:
    """A size in bytes from `4GiB`, `4G`, `512MB`, `512m`, `100000` (binary units either way); ValueError
    otherwise."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not match:
        raise ValueError(f"expected a size such as 4GiB, 512MiB or a number of bytes; received {text!r}")
    size = float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " ")
    if size < 1:
        raise ValueError(f"a size must be at least 1 byte; received {text!r}")
    return int(size)


def check_memory(what: str, size: float, fix: str = "") -> None:
    """Refuse, before allocating, what would take more than `MAX_MEMORY` bytes: `what` says what it is
    (\"the stream's state at --batch-size 64\"), the message gives the figure, the limit and how to raise it."""
    if size > MAX_MEMORY:
        from convert.core.errors import TooLarge

        raise TooLarge(f"{what} would take {size_text(size)}, over causalc's memory limit of "
                       f"{size_text(MAX_MEMORY)}: {fix + ', or ' if fix else ''}raise the limit: "
                       "`causalc --max-memory SIZE ...`")
