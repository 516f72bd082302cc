"""Each weighted layer of a WaveNet-style practice model against a matrix product of its own shape, in one run.

The honest limit of a convolution's speed is a bare matrix product of its shape: (positions x k*C_in) by
(k*C_in x C_out). For `wavenet_spec(1024, CHANNELS)` (default 64) this times every Conv1D of the practice
model alone (XLA) and that matrix product, then the whole forward pass against the sum of the products'
times (what the model would take if every layer ran at its own shape's matmul speed and nothing else cost
anything), and a training step's predictions per second. Run: `python benchmarks/layer_efficiency.py
[--channels 64]` (TensorFlow needed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from convert import api  # noqa: E402
from convert.bench.families import wavenet_spec  # noqa: E402
from convert.bench.measure import matmul_gflops  # noqa: E402
from convert.bench.timing import median_seconds  # noqa: E402

BATCH, LENGTH, REPEATS = 4, 8192, 7


def seconds(function) -> float:
    compiled = tf.function(function, jit_compile=True)
    return median_seconds(lambda: compiled().numpy(), REPEATS)


def layer_rows(model, rng) -> list[dict]:
    """Every Conv1D: its time alone on an input of its shape, and a matrix product of its own shape."""
    rows = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv1D):
            continue
        k, per_group, filters = layer.kernel.shape
        channels = per_group * layer.groups
        h = tf.constant(rng.normal(size=(BATCH, LENGTH, channels)).astype(np.float32))
        a = tf.constant(rng.normal(size=(BATCH * LENGTH, k * channels)).astype(np.float32))
        b = tf.constant(rng.normal(size=(k * channels, filters)).astype(np.float32))
        flops = 2 * BATCH * LENGTH * k * per_group * filters
        rows.append({"layer": layer.name, "shape": f"({BATCH * LENGTH} x {k * channels}) by ({k * channels} x {filters})",
                     "flops": flops, "layer_seconds": seconds(lambda: layer(h)),
                     "matmul_seconds": seconds(lambda: tf.matmul(a, b))})
    return rows


def training_rate(model, x, y) -> float:
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", jit_compile=True)
    model.train_on_batch(x, y)
    return BATCH * LENGTH / median_seconds(lambda: model.train_on_batch(x, y), REPEATS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    peak = matmul_gflops(REPEATS)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "wavenet.yaml")
        with open(path, "w") as handle:
            handle.write(wavenet_spec(1024, args.channels))
        analysis = api.load(path)
        model = api.practice_model(analysis)
        x = tf.constant(rng.normal(size=(BATCH, LENGTH, 1)).astype(np.float32))
        y = tf.constant(rng.integers(0, 256, size=(BATCH, LENGTH)).astype(np.int32))
        forward = seconds(lambda: model(x, training=False))
        rows = layer_rows(model, rng)
        rate = training_rate(model, x, y)
    print(f"{os.cpu_count()} cores, TensorFlow {tf.__version__}; matrix multiply 2048^3: {peak:.1f} GFLOP/s; "
          f"wavenet_spec(1024, {args.channels}), {BATCH} x {LENGTH} steps, medians of {REPEATS}")
    print("| layer | its matmul | layer GFLOP/s | own-shape matmul GFLOP/s | layer / matmul |")
    print("|---|---|---|---|---|")
    for row in rows:
        layer, matmul = row["flops"] / row["layer_seconds"] / 1e9, row["flops"] / row["matmul_seconds"] / 1e9
        print(f"| {row['layer']} | {row['shape']} | {layer:.1f} | {matmul:.1f} | {layer / matmul:.0%} |")
    flops = sum(row["flops"] for row in rows)
    limit = sum(row["matmul_seconds"] for row in rows)
    print(f"forward pass: {flops / forward / 1e9:.1f} GFLOP/s of its convolutions ({flops / forward / 1e9 / peak:.0%} "
          f"of the 2048^3 rate); its layers' own-shape matmuls together: {flops / limit / 1e9:.1f} GFLOP/s; "
          f"forward at {limit / forward:.0%} of that limit")
    print(f"training (Adam, sparse cross-entropy, XLA): {rate:,.0f} predictions/s")


if __name__ == "__main__":
    main()
