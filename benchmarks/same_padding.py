"""Exact 'same' padding: predictions per second of the exact practice model against running the per-step
model (Keras's own 'same' layers) on every window, in one run, with the multiply-adds of both.

Run: `python benchmarks/same_padding.py [--repeats 5]` (TensorFlow needed). Networks: the bundled Keras FCN
classifier (specs/fcn-classifier.yaml: kernels 3, 3, 3) at W = 128 and W = 500; the FCN with Wang et al.'s
kernels 8, 5, 3 (64 channels) at the same windows; the bundled TC-ResNet at W = 101. Both models have the
same weights, take sequences and give every prediction: the practice model runs over 4 sequences of 16W steps
(counting only the steps with a whole window), the per-step model over every window of a sequence of
W + 255 steps (256 windows, cut from the sequence inside the timed model, as running the per-step model on
every window must). Inference is an XLA-compiled forward pass, training one `train_on_batch` (forward,
backward, Adam). Medians of `repeats` runs after warm-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from convert import api  # noqa: E402
from convert.views.explain import explain_data  # noqa: E402
from convert.bench.timing import median_seconds  # noqa: E402

WANG = """name: fcn-wang
same_padding: exact
input: {{channels: 1, window: {window}}}
layers:
  - {{type: Conv1D, name: conv1, filters: 64, kernel_size: 8, padding: same}}
  - {{type: BatchNormalization, name: bn1}}
  - {{type: Activation, name: relu1, activation: relu}}
  - {{type: Conv1D, name: conv2, filters: 64, kernel_size: 5, padding: same}}
  - {{type: BatchNormalization, name: bn2}}
  - {{type: Activation, name: relu2, activation: relu}}
  - {{type: Conv1D, name: conv3, filters: 64, kernel_size: 3, padding: same}}
  - {{type: BatchNormalization, name: bn3}}
  - {{type: Activation, name: relu3, activation: relu}}
  - {{type: GlobalAveragePooling1D, name: gap}}
  - {{type: Dense, name: output, units: 2, activation: softmax}}
"""


class Windows(keras.layers.Layer):
    """Every window of W steps of (1, T, C): (T - W + 1, W, C)."""

    def __init__(self, window: int, **kwargs):
        super().__init__(**kwargs)
        self.window = window

    def call(self, x):
        return tf.signal.frame(x[0], self.window, 1, axis=0)


def _with_window(path: str, window: int, folder: str) -> str:
    text = open(path, encoding="utf-8").read()
    out = os.path.join(folder, f"{window}-{os.path.basename(path)}")
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text.replace("window: 500", f"window: {window}").replace("window: 101", f"window: {window}"))
    return out


def measure(path: str, repeats: int, windows: int = 256, batch: int = 4) -> dict:
    analysis = api.load(path)
    window, channels = analysis.window, analysis.spec.inputs[0].channels
    data = explain_data(analysis)
    practice = api.practice_model(analysis)
    per_step = api.to_step(practice, analysis)
    sequence = keras.Input((None, channels))
    step = keras.Model(sequence, per_step(Windows(window)(sequence)))
    rng = np.random.default_rng(0)
    length = 16 * window
    x = rng.normal(size=(batch, length, channels)).astype(np.float32)
    w = rng.normal(size=(1, window + windows - 1, channels)).astype(np.float32)
    whole = batch * (length - window + 1)
    out = {"spec": analysis.spec.name, "window": window,
           "exact_macs": data["same_padding"]["macs_per_output_step"], "per_window_macs": analysis.step_macs}
    for mode in ("inference", "training"):
        for name, model, inputs, predictions in (("practice", practice, x, whole), ("per_step", step, w, windows)):
            if mode == "inference":
                forward = tf.function(lambda v, m=model: m(v, training=False), jit_compile=True)
                tensor = tf.constant(inputs)
                seconds = median_seconds(lambda: forward(tensor).numpy(), repeats)
            else:
                shape = model.output_shape
                targets = rng.integers(0, shape[-1], size=(batch, length) if len(shape) == 3 else (windows,))
                model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy"
                              if analysis.spec.layer(analysis.spec.output).activation == "softmax" else
                              keras.losses.SparseCategoricalCrossentropy(from_logits=True))
                seconds = median_seconds(lambda: model.train_on_batch(inputs, targets), repeats)
            out[f"{mode}_{name}"] = predictions / seconds
        out[f"{mode}_speedup"] = out[f"{mode}_practice"] / out[f"{mode}_per_step"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, TensorFlow {tf.__version__}, Keras {keras.__version__}; median of {args.repeats}")
    print(f"{'network':16} {'W':>4} {'MACs exact':>11} {'per window':>11} {'ratio':>6} | "
          f"{'inference pred/s: exact':>24} {'per window':>11} {'speed-up':>8} | "
          f"{'training pred/s: exact':>23} {'per window':>11} {'speed-up':>8}")
    with tempfile.TemporaryDirectory() as folder:
        runs = []
        for window in (128, 500):
            runs.append(_with_window(os.path.join(ROOT, "specs", "fcn-classifier.yaml"), window, folder))
            wang = os.path.join(folder, f"wang-{window}.yaml")
            with open(wang, "w", encoding="utf-8") as handle:
                handle.write(WANG.format(window=window))
            runs.append(wang)
        runs.append(os.path.join(ROOT, "specs", "tc-resnet.yaml"))
        for path in runs:
            r = measure(path, args.repeats)
            print(f"{r['spec']:16} {r['window']:>4} {r['exact_macs']:>11,} {r['per_window_macs']:>11,} "
                  f"{r['per_window_macs'] / r['exact_macs']:>5.1f}x | {r['inference_practice']:>24,.0f} "
                  f"{r['inference_per_step']:>11,.0f} {r['inference_speedup']:>7.1f}x | "
                  f"{r['training_practice']:>23,.0f} {r['training_per_step']:>11,.0f} {r['training_speedup']:>7.1f}x",
                  flush=True)


if __name__ == "__main__":
    main()
