"""Practice forward GFLOP/s against matrix multiply, by channel width, and where the time goes.

For WaveNet-style specs (window 1024) of 32 to 256 channels: the practice model's forward GFLOP/s, this
machine's GFLOP/s for a 2048 x 2048 matrix product, and, for one dilated kernel-2 convolution of the same
width, the GFLOP/s of the convolution itself and of a matrix product of its own shape
(positions x 2C by C), which bounds it. Run: `python benchmarks/forward_efficiency.py`.
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from convert import api  # noqa: E402
from convert.bench.measure import matmul_gflops  # noqa: E402
from convert.bench.families import wavenet_spec  # noqa: E402
from convert.bench.timing import median_seconds  # noqa: E402

BATCH, LENGTH, REPEATS = 4, 8192, 7


def gflops(function, flops: float) -> float:
    compiled = tf.function(function, jit_compile=True)
    return flops / median_seconds(lambda: compiled().numpy(), REPEATS) / 1e9


def main() -> None:
    peak = matmul_gflops(REPEATS)
    print(f"{os.cpu_count()} cores, TensorFlow {tf.__version__}; matrix multiply 2048^3: {peak:.1f} GFLOP/s; "
          f"forward of {BATCH} x {LENGTH} steps, medians of {REPEATS}")
    print(f"{'channels':>8}  {'practice model':>22}  {'one dilated conv':>20}  {'its own-shape matmul':>22}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        for channels in (32, 64, 128, 256):
            path = os.path.join(folder, f"w{channels}.yaml")
            with open(path, "w") as handle:
                handle.write(wavenet_spec(1024, channels))
            analysis = api.load(path)
            model = api.practice_model(analysis)
            x = tf.constant(rng.normal(size=(BATCH, LENGTH, 1)).astype(np.float32))
            whole = gflops(lambda: model(x, training=False), 2 * analysis.macs * BATCH * LENGTH)
            h = tf.constant(rng.normal(size=(BATCH, LENGTH, channels)).astype(np.float32))
            conv = keras.layers.Conv1D(channels, 2, dilation_rate=8, padding="causal")
            conv.build((None, None, channels))
            one = gflops(lambda: conv(h), 2 * BATCH * LENGTH * 2 * channels * channels)
            a = tf.constant(rng.normal(size=(BATCH * LENGTH, 2 * channels)).astype(np.float32))
            b = tf.constant(rng.normal(size=(2 * channels, channels)).astype(np.float32))
            shaped = gflops(lambda: tf.matmul(a, b), 2 * BATCH * LENGTH * 2 * channels * channels)
            print(f"{channels:>8}  {whole:8.1f} GFLOP/s ({whole / peak:4.0%})  {one:7.1f} GFLOP/s ({one / peak:4.0%})"
                  f"  {shaped:8.1f} GFLOP/s ({shaped / peak:4.0%})")


if __name__ == "__main__":
    main()
