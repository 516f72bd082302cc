"""Repeated blocks of a network, found so that a picture can draw a run of like blocks as its first block,
one row for those between, and its last block (a WaveNet as two gated blocks and "stands for 7 blocks").

Two blocks are alike when their layers, in spec order, have the same types and the same fields that decide
which positions a layer reads (kernel, stride, pool, padding, cropping; not the dilation, in which a
WaveNet's blocks differ, nor channels, activations or other values), and each layer reads either the
layer at the same offset back in the list of layers (the block before it, the block's own input, as a
residual Add does) or the very same tensor (a model input, a shared embedding). Widths and grids are not
compared: in the per-step form each block of a strided stack is narrower than the one before, and it is
still the same block.
"""

from __future__ import annotations

from typing import NamedTuple

# fields that change values or channels, never the positions a layer reads; the dilation too (what the
# picture draws of it is the grid); every other field must be equal in like blocks
IGNORED = frozenset({"dilation_rate", "filters", "units", "activation", "use_bias", "momentum", "epsilon", "center",
                     "scale", "offset", "rate", "seed", "groups", "depth_multiplier", "input_dim", "output_dim",
                     "max_value", "negative_slope", "threshold", "alpha", "axis", "keepdims"})
MIN_BLOCKS = 3  # a run of fewer like blocks is drawn whole (collapsing it would hide nothing)


class Run(NamedTuple):
    """`count` like blocks of `length` layers, the first starting at index `start` of the layers drawn."""

    start: int
    length: int
    count: int

    def block(self, k: int) -> range:
        """The indices of the k-th block (0-based)."""
        return range(self.start + k * self.length, self.start + (k + 1) * self.length)


def _frozen(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


class _Layers:
    """Which layer is like which one `length` places later (computed once per pair)."""

    def __init__(self, layers):
        index = {layer.name: i for i, layer in enumerate(layers)}
        self.kinds = [(layer.type, tuple(sorted((k, _frozen(v)) for k, v in layer.config.items() if k not in IGNORED)))
                      for layer in layers]
        self.reads = [tuple(index.get(name, name) for name in layer.inputs) for layer in layers]
        self.n = len(layers)
        self._prefix: dict[int, list[int]] = {}

    def _like(self, a: int, b: int) -> bool:
        if self.kinds[a] != self.kinds[b] or len(self.reads[a]) != len(self.reads[b]):
            return False
        for x, y in zip(self.reads[a], self.reads[b]):
            same_tensor = x == y
            same_offset = isinstance(x, int) and isinstance(y, int) and a - x == b - y
            if not (same_tensor or same_offset):
                return False
        return True

    def alike(self, first: int, second: int, length: int) -> bool:
        """Layers first .. first+length-1 are each like the layer `second - first` places later."""
        shift = second - first
        prefix = self._prefix.get(shift)
        if prefix is None:  # prefix[k]: how many of layers 0 .. k-1 are like the one `shift` later
            prefix = [0]
            for k in range(self.n - shift):
                prefix.append(prefix[-1] + self._like(k, k + shift))
            self._prefix[shift] = prefix
        return prefix[first + length] - prefix[first] == length


def repeated_blocks(layers, min_blocks: int = MIN_BLOCKS) -> list[Run]:
    """The runs of at least `min_blocks` like blocks in `layers` that hide at least two layers, in order
    and not overlapping: the run that covers most layers first (the shorter block on a tie: two blocks of
    a run of eight are also a block of a run of four; then the earlier start), then the same before it
    and after it."""
    table = _Layers(layers)

    def best(lo: int, hi: int) -> Run | None:
        found = None
        for i in range(lo, hi):
            for length in range(1, (hi - i) // min_blocks + 1):
                count = 1
                while i + (count + 1) * length <= hi and table.alike(i + (count - 1) * length, i + count * length, length):
                    count += 1
                if count >= min_blocks and (count - 2) * length >= 2 and \
                        (found is None or count * length > found.count * found.length):
                    found = Run(i, length, count)
        return found

    def runs(lo: int, hi: int) -> list[Run]:
        run = best(lo, hi)
        if run is None:
            return []
        return runs(lo, run.start) + [run] + runs(run.start + run.length * run.count, hi)

    return runs(0, len(layers))


class Collapse(NamedTuple):
    """What a picture leaves out: the hidden tensors, and per run the tensor that stands for its middle
    blocks (the one the run's last block reads) with the words that say so."""

    hidden: frozenset[str]
    bands: dict[str, str]  # tensor name -> its note


def collapse(layers, runs: list[Run]) -> Collapse:
    """Blocks 2 .. count-1 of every run hidden, but for the tensor of theirs that the last block reads."""
    hidden, bands = set(), {}
    for run in runs:
        middle = [layers[i].name for k in range(1, run.count - 1) for i in run.block(k)]
        last = {name for i in run.block(run.count - 1) for name in layers[i].inputs}
        band = next((name for name in reversed(middle) if name in last), middle[-1])
        first = run.block(0)
        blocks = f"{run.count - 2} block{'s' if run.count > 3 else ''}"
        bands[band] = (f"stands for {blocks} shaped like {layers[first[0]].name} .. {layers[first[-1]].name} "
                       f"({middle[0]} .. {middle[-1]})")
        hidden.update(name for name in middle if name != band)
    return Collapse(frozenset(hidden), bands)
