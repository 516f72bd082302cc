"""Streaming generation speed: samples/s and GFLOP/s at batch 1 and 64 against the matrix-multiply rate,
and causalc's StreamingModel against the naive method.

The table: specs/wavenet.yaml and an nv-wavenet-sized network (16 gated blocks, residual 64, skip 256),
batch 1 and 64, next to a 2048 x 2048 matrix product measured in the same process. GFLOP/s counts two
operations per multiply-add of the practice model's step. The naive method re-runs the practice model on
the last receptive-field window for every new sample.
Run: `python benchmarks/streaming.py [--samples 16000] [--batch-samples 2048] [--naive-samples 200]`.
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


NETWORKS = {"specs/wavenet.yaml": None,  # 93k parameters
            "nv-wavenet size": (65536, 64, 256)}  # wavenet_spec: 16 gated blocks, residual 64, skip 256


def network(name: str):
    """(analysis, practice model with random weights) of a network of the table."""
    from convert.bench.families import wavenet_spec

    if NETWORKS[name] is None:
        analysis = api.load(name)
    else:
        import tempfile

        path = os.path.join(tempfile.mkdtemp(), "nv-wavenet.yaml")
        with open(path, "w") as handle:
            handle.write(wavenet_spec(*NETWORKS[name], name="nv-wavenet"))
        analysis = api.load(path)
    model = api.practice_model(analysis)
    randomize(model)
    return analysis, model


def matmul_limit(stream: StreamingModel, batch: int, steps: int = 512, repeats: int = 3) -> float:
    """GFLOP/s of the step's matrix products alone, in an XLA loop like the stream's: one product per group of
    convolutions the stream fuses, (batch x k*C_in) by (k*C_in x C_out), in the step's order, each reading
    the one before (as a layer reads the layer before: no two run at once); no ring buffers, gathers,
    activations or sampling. The honest limit of a step."""
    rng = np.random.default_rng(3)
    shapes = [tuple(kernel.shape) for kernel, *_ in stream._groups.values()]
    kernels = [tf.constant(rng.normal(0, 0.05, shape).astype(np.float32)) for shape in shapes]
    width = max(k for k, _ in shapes)
    flops = 2 * batch * sum(k * n for k, n in shapes) * steps

    @tf.function(jit_compile=True)
    def loop(x):
        def body(i, x):
            for kernel in kernels:
                k, n = kernel.shape
                y = tf.matmul(x[:, :k], kernel)[:, :min(n, width)]
                x = x + 1e-6 * tf.pad(y, [[0, 0], [0, width - y.shape[1]]])
            return i + 1, x
        return tf.while_loop(lambda i, _: i < steps, body, (0, x))[1]

    x = tf.constant(rng.normal(size=(batch, width)).astype(np.float32))
    loop(x).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        loop(x).numpy()
        times.append(time.perf_counter() - start)
    return flops / float(np.median(times)) / 1e9


def table(samples: int, batch_samples: int, repeats: int, batches=(1, 64)) -> list[dict]:
    """Samples/s and GFLOP/s of generation for every network and batch, with the matrix-multiply rate
    measured before and after in the same process."""
    from convert.bench.measure import matmul_gflops

    before = matmul_gflops(7)
    rows = []
    for name in NETWORKS:
        analysis, model = network(name)
        stream = StreamingModel(model, analysis)
        for batch in batches:
            rate = streaming_rate(stream, samples if batch == 1 else batch_samples, repeats, batch=batch)
            rows.append({"network": name, "parameters": analysis.params, "macs_per_step": analysis.macs,
                         "batch": batch, "samples_per_second": rate, "gflops": 2 * analysis.macs * rate / 1e9,
                         "matmul_limit_gflops": matmul_limit(stream, batch)})
    matmul = float(np.median([before, matmul_gflops(7)]))
    for row in rows:
        row["share_of_matmul"] = row["gflops"] / matmul
        row["matmul_gflops"] = matmul
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/wavenet.yaml", help="The network of the naive comparison.")
    parser.add_argument("--samples", type=int, default=16_000, help="Samples per timed run at batch 1.")
    parser.add_argument("--batch-samples", type=int, default=2_048, help="Samples per stream per timed run at batch 64.")
    parser.add_argument("--naive-samples", type=int, default=200, help="0 skips the naive comparison.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    print(f"{os.cpu_count()} cores, TensorFlow {tf.__version__}, {threads} intra-op threads; "
          f"medians of {args.repeats} runs after a compiling one")
    rows = table(args.samples, args.batch_samples, args.repeats)
    print(f"matrix multiply 2048^3 in this process: {rows[0]['matmul_gflops']:.1f} GFLOP/s (median of a "
          "measurement before and one after the table)")
    print("| network | multiply-adds per step | batch | samples/s (all streams) | GFLOP/s | share of matmul rate "
          "| the step's matmuls alone | share of them |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        limit = row["matmul_limit_gflops"]
        print(f"| {row['network']} ({row['parameters']:,} parameters) | {row['macs_per_step']:,} | {row['batch']} | "
              f"{row['samples_per_second']:,.0f} | {row['gflops']:.1f} | {row['share_of_matmul']:.0%} | "
              f"{limit:.1f} GFLOP/s ({limit / row['matmul_gflops']:.0%}) | {row['gflops'] / limit:.0%} |")
    if not args.naive_samples:
        return
    model = api.practice_model(args.spec)
    randomize(model)
    stream = StreamingModel(model, args.spec)
    print(f"{args.spec}: window {stream.analysis.window}, receptive field {stream.analysis.receptive_field}, "
          f"{stream.analysis.params:,} parameters")
    fast = streaming_rate(stream, args.samples, args.repeats)
    print(f"  streaming (StreamingModel.generate, batch 1): {fast:12,.0f} samples/s ({args.samples:,} samples, "
          f"median of {args.repeats})")
    slow = naive_rate(model, stream, args.naive_samples)
    print(f"  naive (practice model on the last {stream.analysis.receptive_field} steps per sample): "
          f"{slow:12,.1f} samples/s ({args.naive_samples} samples)")
    print(f"  speed-up: {fast / slow:,.0f}x")


if __name__ == "__main__":
    main()
