"""`causalc bench`: the practice model's speed against the per-step method, measured side by side.

- training: predictions per second of one training step (forward, backward, Adam update) of the
  practice model on a batch of sequences, against the per-step model trained on every window of the
  same sequences ("chunks"), with the same loss; their ratio next to the ratio of multiply-adds per
  prediction;
- inference: the practice model's forward GFLOP/s next to this machine's matrix-multiply GFLOP/s;
- peak memory (resident set) of each training method;
- analysis time of generated specs of 100, 1,000 and 10,000 layers.

Every figure is the median of `repeats` runs after a warm-up that compiles the graphs.
"""

from __future__ import annotations

import os
import platform
import tempfile
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from convert.runtime import api
from convert.analysis import Analysis
from convert.bench.families import wavenet_spec
from convert.bench.timing import analysis_times, median_seconds

Progress = Callable[[str], None]


class _PeakMemory:
    """Peak resident set size over a block, in MiB (Linux: VmHWM, reset through /proc/self/clear_refs)."""

    def __enter__(self):
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.supported = True
        except OSError:
            self.supported = False
        self.before = _status("VmRSS")
        return self

    def __exit__(self, *exc):
        self.peak = _status("VmHWM") if self.supported else None


def _status(key: str) -> float | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _target_kind(analysis: Analysis) -> str:
    spec = analysis.spec
    units = analysis.tensors[spec.output].channels
    softmax = spec.layer(spec.output).activation == "softmax"
    if softmax and units == 256 and spec.inputs[0].channels == 1:
        return "mu-law"
    return "next" if units == spec.inputs[0].channels and not softmax else "other"


def _batches(analysis: Analysis, batch: int, length: int, window_batch: int):
    """One practice batch and one per-step batch from the same synthetic signal (tones and noise), with the
    same loss: cross-entropy over mu-law levels, squared error against the next sample, or (for outputs
    that cannot predict the next sample) the loss of their kind against fixed random targets."""
    from convert.runtime.data import sequence_pairs, window_pairs

    spec = analysis.spec
    rng = np.random.default_rng(0)
    steps = np.arange(batch * length + analysis.window + 1)
    tones = np.sin(2 * np.pi * 440 * steps / 16_000) + 0.5 * np.sin(2 * np.pi * 1_250 * steps / 16_000)
    signal = (0.6 * tones[:, None] + 0.05 * rng.normal(size=(len(steps), spec.inputs[0].channels))).astype(np.float32)
    kind = _target_kind(analysis)
    target = "mu-law" if kind == "mu-law" else "next"
    x, y = next(iter(sequence_pairs(signal, length, batch, target=target, seed=0)))
    windows, next_y = next(iter(window_pairs(signal, analysis.window, window_batch, target=target, seed=0)))
    softmax = spec.layer(spec.output).activation == "softmax"
    loss = keras.losses.SparseCategoricalCrossentropy() if softmax else keras.losses.MeanSquaredError()
    if kind == "other":
        units = analysis.tensors[spec.output].channels
        make = (lambda shape: rng.integers(0, units, size=shape)) if softmax else \
            (lambda shape: rng.normal(size=shape + (units,)).astype(np.float32))
        y, next_y = make((batch, length)), make((window_batch,))
    return loss, (x.numpy(), np.asarray(y)), (windows.numpy(), np.asarray(next_y))


def measure_training(analysis: Analysis, batch: int, length: int, window_batch: int, repeats: int,
                     progress: Progress) -> dict:
    window = analysis.window
    loss, practice_batch, step_batch = _batches(analysis, batch, length, window_batch)
    results = {}
    for method in ("practice", "per_step"):
        progress(f"training: {method.replace('_', '-')} model")
        keras.utils.set_random_seed(0)
        if method == "practice":
            model, (inputs, targets) = api.practice_model(analysis), practice_batch
            predictions = batch * (length - window + 1)  # only steps with a whole window count
        else:
            model, (inputs, targets) = api.per_step_model(analysis), step_batch
            predictions = window_batch
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
        with _PeakMemory() as memory:
            seconds = median_seconds(lambda: model.train_on_batch(inputs, targets), repeats)
        results[method] = {"predictions_per_second": predictions / seconds, "seconds_per_step": seconds,
                           "predictions_per_step": predictions, "peak_rss_mib": memory.peak,
                           "rss_before_mib": memory.before}
        del model
    speedup = results["practice"]["predictions_per_second"] / results["per_step"]["predictions_per_second"]
    mac_ratio = analysis.step_macs / max(analysis.macs, 1)
    return {"practice": results["practice"], "per_step": results["per_step"], "speedup": speedup,
            "mac_ratio": mac_ratio, "speedup_over_mac_ratio": speedup / mac_ratio, "loss": loss.name,
            "batch": batch, "length": length, "window_batch": window_batch}


def matmul_gflops(repeats: int, size: int = 2048) -> float:
    a = tf.constant(np.random.default_rng(1).normal(size=(size, size)).astype(np.float32))
    product = tf.function(lambda: tf.matmul(a, a), jit_compile=True)
    return 2 * size**3 / median_seconds(lambda: product().numpy(), repeats) / 1e9


def measure_inference(analysis: Analysis, batch: int, length: int, repeats: int, progress: Progress) -> dict:
    progress("inference: practice forward pass")
    model = api.practice_model(analysis)
    x = tf.constant(np.random.default_rng(2).normal(size=(batch, length, analysis.spec.inputs[0].channels)).astype(np.float32))
    forward = tf.function(lambda v: model(v, training=False), jit_compile=True)
    seconds = median_seconds(lambda: forward(x).numpy(), repeats)
    practice = 2 * analysis.macs * batch * length / seconds / 1e9
    progress("inference: matrix multiply")
    peak = matmul_gflops(repeats)
    return {"practice_gflops": practice, "matmul_gflops": peak, "ratio": practice / peak, "batch": batch,
            "length": length, "seconds": seconds}


def machine() -> dict:
    return {"cores": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__}


def run_bench(spec, batch: int = 4, length: int | None = None, window_batch: int = 256, repeats: int = 5,
              progress: Progress = lambda _: None, analysis_sizes=(100, 1_000, 10_000)) -> dict:
    analysis = api.load(spec)
    length = length or max(4 * analysis.window, 1024)
    return {
        "spec": analysis.spec.name,
        "window": analysis.window,
        "receptive_field": analysis.receptive_field,
        "params": analysis.params,
        "macs_per_prediction": {"practice": analysis.macs, "per_step": analysis.step_macs},
        "machine": machine(),
        "repeats": repeats,
        "training": measure_training(analysis, batch, length, window_batch, repeats, progress),
        "inference": measure_inference(analysis, batch, max(length, 8192), repeats, progress),
        "analysis": analysis_times(analysis_sizes, 3, progress),
    }


def speedup_by_window(windows=(16, 32, 64, 128, 256, 512, 1024, 2048, 4096), channels: int = 32,
                      skip_channels: int = 64, batch: int = 4, length: int | None = None, window_batch: int = 256,
                      repeats: int = 3, progress: Progress = lambda _: None) -> list[dict]:
    """Training speed-up of the WaveNet-style family (gated blocks, `channels` wide, `skip_channels` skips:
    specs/wavenet.yaml's widths) for each window, measured as `run_bench` measures its spec: `batch`
    sequences of `length` steps (default max(4W, 1024)) against `window_batch` windows per step."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for window in windows:
            path = os.path.join(folder, f"wavenet-{window}.yaml")
            with open(path, "w") as handle:
                handle.write(wavenet_spec(window, channels, skip_channels))
            analysis = api.load(path)
            progress(f"window {window}")
            result = measure_training(analysis, batch=batch, length=length or max(4 * window, 1024),
                                      window_batch=window_batch, repeats=repeats, progress=lambda _: None)
            rows.append({"window": window, "speedup": result["speedup"], "mac_ratio": result["mac_ratio"],
                         "practice": result["practice"]["predictions_per_second"],
                         "per_step": result["per_step"]["predictions_per_second"]})
    return rows


def plot_speedup(rows: list[dict], path: str, own: dict | None = None) -> None:
    """A PNG of training speed-up against window size (needs the `plot` extra: matplotlib); `own`: the
    benched spec's point from the same run ({"name", "window", "speedup", "mac_ratio"}), marked apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    windows = [r["window"] for r in rows]
    axis.loglog(windows, [r["speedup"] for r in rows], "o-", label="measured training speed-up")
    axis.loglog(windows, [r["mac_ratio"] for r in rows], "--", color="grey", label="ratio of multiply-adds")
    if own is not None:
        axis.loglog([own["window"]], [own["speedup"]], "D", color="crimson", label=f"{own['name']} (the table's row)")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("window W (steps)")
    axis.set_ylabel("practice / per-step predictions per second")
    axis.set_title("causalc: training speed-up, WaveNet-style specs")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
