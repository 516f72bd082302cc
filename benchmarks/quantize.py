"""int8 steps of trained networks against their float steps: `export-step --quantize int8` of
specs/tc-resnet.yaml and specs/matchboxnet.yaml trained on a synthetic keyword task, and of
specs/wavenet.yaml trained by `causalc train` on synthetic audio; both runtimes (LiteRT full-integer,
ONNX QDQ). Reports each int8 file's size against the float file's, and on a held-out recording (not the
calibration one) fed step by step: the share of steps whose argmax agrees with the float step, and for the
classifiers the float and int8 steps' accuracy on the task's labels (that the networks learned something:
a random classifier predicts one class and agrees with anything). For wavenet, int8 generation is run too.

    .venv/bin/python benchmarks/quantize.py            # the table in docs/deployment.md, ~10 minutes on 2 cores
    .venv/bin/python benchmarks/quantize.py --quick    # fewer training steps

The keyword task: 40 feature channels of noise (sd 0.3) in which keywords (11 classes, each a fixed
random 40 x 40 pattern) appear at random gaps; a step's label is the keyword that ended within the last
30 steps, or 0 (none).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

CAUSALC = [sys.executable, "-m", "convert"]
CLASSES, CHANNELS, LENGTH, SHOWN = 12, 40, 40, 30


def keyword_task(steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features (steps, 40), labels (steps,)) of the synthetic keyword task; the templates are fixed."""
    templates = np.random.default_rng(1234).normal(size=(CLASSES, LENGTH, CHANNELS)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = 0.3 * rng.normal(size=(steps, CHANNELS)).astype(np.float32)
    labels = np.zeros(steps, np.int32)
    t = int(rng.integers(10, 60))
    while t + LENGTH < steps:
        c = int(rng.integers(1, CLASSES))
        x[t:t + LENGTH] += templates[c]
        labels[t + LENGTH - 1:t + LENGTH - 1 + SHOWN] = c
        t += LENGTH + int(rng.integers(20, 90))
    return x, labels


def train_classifier(name: str, folder: str, epochs: int) -> str:
    """The practice model of specs/NAME.yaml trained on the keyword task; the .keras path."""
    from convert import api
    from convert.runtime.api import keras

    analysis = api.load(os.path.join(ROOT, "specs", f"{name}.yaml"))
    window = analysis.window
    model = api.practice_model(analysis)
    crops, length = 192, 400
    x, labels = keyword_task(crops * length, seed=1)
    xs, ys = x.reshape(crops, length, CHANNELS), labels.reshape(crops, length)
    weights = np.ones_like(ys, np.float32)
    weights[:, :window - 1] = 0  # the warm-up's steps see less than a window
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(xs, ys, sample_weight=weights, batch_size=8, epochs=epochs, verbose=0)
    # the batch norms' moving statistics set to those of 32 crops: a short training leaves them far from the
    # statistics the weights were trained with (momentum 0.99)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    model(xs[:32], training=True)
    for layer in norms:
        layer.momentum = 0.99
    path = os.path.join(folder, f"{name}.keras")
    model.save(path)
    return path


def train_wavenet(folder: str, steps: int) -> tuple[str, str]:
    """specs/wavenet.yaml trained by `causalc train` on synthetic audio (tones in noise); (model, audio)."""
    rate = 16000
    t = np.arange(rate * 20) / rate
    rng = np.random.default_rng(0)
    audio = sum(0.25 * np.sin(2 * np.pi * f * t + p) for f, p in zip((196, 262, 330), rng.uniform(0, 6, 3)))
    audio = (audio * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)) + 0.01 * rng.normal(size=t.size)).astype(np.float32)
    path = os.path.join(folder, "audio.npy")
    np.save(path, audio[:, None])
    model = os.path.join(folder, "wavenet.keras")
    subprocess.run(CAUSALC + ["train", os.path.join(ROOT, "specs", "wavenet.yaml"), path, "-o", model,
                              "--steps", str(steps), "--batch-size", "8"], check=True, capture_output=True)
    return model, path


def export(spec: str, model: str, calibration: str, out: str, fmt: str) -> str:
    result = subprocess.run(CAUSALC + ["export-step", spec, model, "-o", out, "--format", fmt, "--quantize", "int8",
                                       "--calibration", calibration], check=True, capture_output=True, text=True)
    return next(line for line in result.stdout.splitlines() if "step-int8" in line)


def compare(folder: str, runtime: str, x: np.ndarray, labels: np.ndarray | None) -> dict:
    from convert.deploy.runner import StepRunner

    files = json.load(open(os.path.join(folder, "step.json")))["files"]
    float_file, int8_file = files["onnx" if runtime == "onnx" else "litert"], files[runtime + "-int8"]
    want = StepRunner(folder, runtime).run([x[None]])[0]
    got = StepRunner(folder, runtime, int8=True).run([x[None]])[0]
    row = {"runtime": runtime, "float_bytes": os.path.getsize(os.path.join(folder, float_file)),
           "int8_bytes": os.path.getsize(os.path.join(folder, int8_file))}
    row["size"] = row["int8_bytes"] / row["float_bytes"]
    if labels is None:  # wavenet: the next sample's level from the fed recording
        row["argmax_agreement"] = float(np.mean(np.argmax(got, -1) == np.argmax(want, -1)))
    else:
        seen = np.arange(len(labels)) >= 100  # past the first window
        row["argmax_agreement"] = float(np.mean((np.argmax(got, -1) == np.argmax(want, -1))[seen]))
        row["float_accuracy"] = float(np.mean((np.argmax(want, -1) == labels)[seen]))
        row["int8_accuracy"] = float(np.mean((np.argmax(got, -1) == labels)[seen]))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--specs", default="tc-resnet,matchboxnet,wavenet", help="which of the three (comma-separated)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="causalc-int8-") as folder:
        calibration, test = os.path.join(folder, "calibration.npy"), keyword_task(6000, seed=3)
        np.save(calibration, keyword_task(3000, seed=2)[0])
        chosen = args.specs.split(",")
        for name in [n for n in ("tc-resnet", "matchboxnet") if n in chosen]:
            model = train_classifier(name, folder, 2 if args.quick else 8)
            for fmt, runtime in (("saved_model", "litert"), ("onnx", "onnx")):
                out = os.path.join(folder, f"{name}-{fmt}")
                said = export(os.path.join(ROOT, "specs", f"{name}.yaml"), model, calibration, out, fmt)
                rows.append({"spec": name, **compare(out, runtime, *test), "export": said})
                print(json.dumps(rows[-1]), flush=True)
        if "wavenet" in chosen:
            model, audio = train_wavenet(folder, 100 if args.quick else 600)
            recording = np.load(audio)
            np.save(calibration, recording[:16000])
            for fmt, runtime in (("saved_model", "litert"), ("onnx", "onnx")):
                out = os.path.join(folder, f"wavenet-{fmt}")
                said = export(os.path.join(ROOT, "specs", "wavenet.yaml"), model, calibration, out, fmt)
                row = {"spec": "wavenet", **compare(out, runtime, recording[16000:32000], None), "export": said}
                generated = subprocess.run(CAUSALC + ["run-step", out, "--steps", "4000", "--seed", "0", "--runtime", runtime,
                                                      "--int8", "-o", os.path.join(out, "int8.wav")],
                                           capture_output=True, text=True)
                row["int8_generation"] = generated.stdout.strip().splitlines()[-1] if generated.returncode == 0 \
                    else f"failed: {generated.stderr.strip()[-300:]}"
                rows.append(row)
                print(json.dumps(rows[-1]), flush=True)
    if not args.json:
        print_table(rows)


def print_table(rows: list) -> None:
    print(f"\n{'spec':12} {'runtime':8} {'int8 / float size':>18} {'argmax agrees':>14} {'accuracy float -> int8':>24}")
    for row in rows:
        accuracy = (f"{row['float_accuracy']:.1%} -> {row['int8_accuracy']:.1%}" if "float_accuracy" in row else "")
        print(f"{row['spec']:12} {row['runtime']:8} {row['int8_bytes'] / 1e3:7.0f} KB = {row['size']:5.1%} "
              f"{row['argmax_agreement']:14.1%} {accuracy:>24}")


if __name__ == "__main__":
    main()
