"""Global pooling in practice costs O(log n) per output step: the practice forward pass of the same network
with a global average pool over 1,024 positions against one over 16, side by side.

Run: `python benchmarks/global_pool.py [--steps 16384] [--batch 4] [--repeats 7]` (TensorFlow needed).
Each network is Conv1D(32, kernel 3) over 8 channels, then GlobalAveragePooling1D over the whole window
(n positions), then Dense(4); the practice model is XLA-compiled and timed on `batch` sequences of
`steps` steps (median of `repeats` runs after a warm-up). The figure is nanoseconds per output step.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from convert import api  # noqa: E402
from convert.bench.timing import median_seconds  # noqa: E402

SPEC = """name: gap-{n}
input: {{channels: 8, window: {window}}}
layers:
  - {{type: Conv1D, name: conv, filters: 32, kernel_size: 3, activation: relu}}
  - {{type: {pool}, name: pool}}
  - {{type: Dense, name: out, units: 4}}
"""


def seconds_per_step(n: int, pool: str, steps: int, batch: int, repeats: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "gap.yaml")
        with open(path, "w") as handle:
            handle.write(SPEC.format(n=n, window=n + 2, pool=pool))
        model = api.practice_model(path)
    x = tf.constant(np.random.default_rng(0).normal(size=(batch, steps, 8)).astype(np.float32))
    forward = tf.function(lambda v: model(v, training=False), jit_compile=True)
    return median_seconds(lambda: forward(x).numpy(), repeats) / (batch * steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16384)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, TensorFlow {tf.__version__}; {args.batch} x {args.steps:,} steps, "
          f"median of {args.repeats}")
    for pool in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        small = seconds_per_step(16, pool, args.steps, args.batch, args.repeats)
        large = seconds_per_step(1024, pool, args.steps, args.batch, args.repeats)
        print(f"  {pool:24} n = 16: {small * 1e9:7.1f} ns/step   n = 1,024: {large * 1e9:7.1f} ns/step   "
              f"ratio {large / small:.2f} (64x the positions)")


if __name__ == "__main__":
    main()
