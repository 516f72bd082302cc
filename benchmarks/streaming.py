"""Streaming generation speed: causalc's StreamingModel against the naive method, side by side.

The naive method re-runs the practice model on the last receptive-field window for every new sample.
Run: `python benchmarks/streaming.py [--spec specs/wavenet.yaml] [--samples 16000]` (TensorFlow needed).
Figures are samples per second at batch 1, after a warm-up run that compiles the graphs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from convert import api  # noqa: E402
from convert.runtime.stream import StreamingModel  # noqa: E402


def randomize(model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = [rng.normal(0, 1 / np.sqrt(np.prod(w.shape[:-1]) if w.ndim > 1 else 4), w.shape).astype("float32")
                  for w in layer.get_weights()]
        if values:
            layer.set_weights(values)


def streaming_rate(stream: StreamingModel, samples: int, repeats: int, batch: int = 1, conditions=None) -> float:
    """Median samples/s over all `batch` streams of `generate`, after a run that compiles it."""
    stream.reset(batch)
    stream.generate(2048, seed=0, conditions=conditions)  # compile
    rates = []
    for r in range(repeats):
        stream.reset(batch)
        start = time.perf_counter()
        stream.generate(samples, seed=r, conditions=conditions)
        rates.append(batch * samples / (time.perf_counter() - start))
    return float(np.median(rates))


def naive_rate(model, stream: StreamingModel, samples: int) -> float:
    """Generate by re-running the practice model on the last receptive field for each sample."""
    field = stream.analysis.receptive_field
    forward = tf.function(lambda x: model(x, training=False)[:, -1], jit_compile=True)
    history = np.zeros((1, field, stream.channels), np.float32)
    for _ in range(3):
        forward(tf.constant(history)).numpy()  # compile and warm up
    kind = stream.output_kind
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(samples):
        y = forward(tf.constant(history)).numpy()
        if kind == "mu-law":
            level = rng.choice(y.shape[-1], p=y[0] / y[0].sum())
            x = float(np.sign(2 * level / 255 - 1) * ((256 ** abs(2 * level / 255 - 1)) - 1) / 255)
            history = np.concatenate([history[:, 1:], [[[x]]]], axis=1)
        else:
            history = np.concatenate([history[:, 1:], y[:, None]], axis=1)
    return samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/wavenet.yaml")
    parser.add_argument("--samples", type=int, default=16_000)
    parser.add_argument("--naive-samples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = api.practice_model(args.spec)
    randomize(model)
    stream = StreamingModel(model, args.spec)
    print(f"{args.spec}: window {stream.analysis.window}, receptive field {stream.analysis.receptive_field}, "
          f"{stream.analysis.params:,} parameters; {os.cpu_count()} cores, TensorFlow {tf.__version__}")
    fast = streaming_rate(stream, args.samples, args.repeats)
    print(f"  streaming (StreamingModel.generate, batch 1): {fast:12,.0f} samples/s ({args.samples:,} samples, "
          f"median of {args.repeats})")
    slow = naive_rate(model, stream, args.naive_samples)
    print(f"  naive (practice model on the last {stream.analysis.receptive_field} steps per sample): "
          f"{slow:12,.1f} samples/s ({args.naive_samples} samples)")
    print(f"  speed-up: {fast / slow:,.0f}x")


if __name__ == "__main__":
    main()
