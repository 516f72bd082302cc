"""Generated spec families for benchmarks: WaveNet-style stacks of any window and width, and long chains."""

from __future__ import annotations

import math
from convert.core.errors import BadValue


def wavenet_spec(window: int, channels: int = 32, skip_channels: int | None = None, units: int = 256,
                 name: str | None = None) -> str:
    """A WaveNet-style spec over `window` (a power of two): log2(window) gated kernel-2, stride-2 blocks
    with residual and skip connections and a `units`-way softmax head."""
    blocks = int(math.log2(window))
    if 2**blocks != window or blocks < 1:
        raise BadValue(f"the window must be a power of two >= 2; received {window}")
    skip = skip_channels or channels
    lines = [f"name: {name or f'wavenet-{window}-{channels}'}", f"input: {{channels: 1, window: {window}}}", "layers:",
             f"  - {{type: Conv1D, name: embed, filters: {channels}, kernel_size: 1}}"]
    previous, skips = "embed", []
    for i in range(1, blocks + 1):
        lines += [
            f"  - {{type: Conv1D, name: filter{i}, inputs: {previous}, filters: {channels}, kernel_size: 2, strides: 2, activation: tanh}}",
            f"  - {{type: Conv1D, name: gate{i}, inputs: {previous}, filters: {channels}, kernel_size: 2, strides: 2, activation: sigmoid}}",
            f"  - {{type: Multiply, name: gated{i}, inputs: [filter{i}, gate{i}]}}",
            f"  - {{type: Conv1D, name: skip{i}, inputs: gated{i}, filters: {skip}, kernel_size: 1}}",
        ]
        skips.append(f"skip{i}")
        if i < blocks:
            lines += [f"  - {{type: Conv1D, name: res{i}, inputs: gated{i}, filters: {channels}, kernel_size: 1}}",
                      f"  - {{type: Add, name: block{i}, inputs: [{previous}, res{i}]}}"]
            previous = f"block{i}"
    merged = f"{{type: Add, name: skips, inputs: [{', '.join(skips)}]}}" if len(skips) > 1 else \
        f"{{type: Activation, name: skips, inputs: {skips[0]}, activation: linear}}"
    lines += [f"  - {merged}", "  - {type: Activation, name: skips_relu, activation: relu}",
              f"  - {{type: Dense, name: logits, units: {units}, activation: softmax}}"]
    return "\n".join(lines) + "\n"


def chain_spec(layers: int, channels: int = 4) -> str:
    """`layers` kernel-2 convolutions in a chain: window and receptive field layers + 1."""
    body = "".join(f"  - {{type: Conv1D, name: c{i}, filters: {channels}, kernel_size: 2}}\n" for i in range(layers))
    return f"input: {{channels: 1}}\nlayers:\n{body}"
