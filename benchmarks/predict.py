"""Dense prediction: `causalc predict`'s rate against the practice model's own on one in-memory array, and
the peak memory of a long recording.

    .venv/bin/python benchmarks/predict.py                      # the table below, ~3 minutes
    .venv/bin/python benchmarks/predict.py --long 3000000       # also a 3,000,000-step recording, by the CLI

For each spec: the practice model over one in-memory array of STEPS steps in one call (its own rate), then
`convert.api.predict` with the default chunk over the same array; the ratio is what the chunking costs.
With --long, `causalc predict` runs in a child process on a .npy of that many steps and its peak resident
memory (getrusage of the child) is reported.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from convert import api  # noqa: E402
from convert.bench.timing import median_seconds  # noqa: E402

SPECS = ("fcn-classifier", "tc-resnet", "shallow-fbcsp", "wavenet")


def rates(name: str, steps: int, repeats: int) -> dict:
    path = os.path.join(ROOT, "specs", f"{name}.yaml")
    analysis = api.load(path)
    model = api.practice_model(analysis)
    channels = analysis.spec.inputs[0].channels
    x = np.random.default_rng(0).normal(size=(steps, channels)).astype(np.float32)
    model.predict_on_batch(x[None])  # compiled once for this length
    whole = median_seconds(lambda: model.predict_on_batch(x[None]), repeats)
    api.predict(model, analysis, x)  # and once per chunk length
    chunked = median_seconds(lambda: api.predict(model, analysis, x), repeats)
    return {"spec": name, "steps": steps, "whole": steps / whole, "predict": steps / chunked}


def long_run(name: str, steps: int) -> dict:
    path = os.path.join(ROOT, "specs", f"{name}.yaml")
    with tempfile.TemporaryDirectory() as folder:
        analysis = api.load(path)
        model = api.practice_model(analysis)
        model.save(os.path.join(folder, "m.keras"))
        recording = np.lib.format.open_memmap(os.path.join(folder, "r.npy"), mode="w+", dtype=np.float32,
                                              shape=(steps, analysis.spec.inputs[0].channels))
        for start in range(0, steps, 1 << 20):
            recording[start:start + (1 << 20)] = np.random.default_rng(start).normal(
                size=recording[start:start + (1 << 20)].shape)
        recording.flush()
        del recording
        start = time.perf_counter()
        # a small parent forks the command: a child forked from this large process would count its pages
        result = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "convert", "predict", path,
                                 os.path.join(folder, "m.keras"), os.path.join(folder, "r.npy"),
                                 "-o", os.path.join(folder, "out.npy")],
                                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
        seconds = time.perf_counter() - start
        if result.returncode:
            raise SystemExit(result.stderr)
        lines = result.stdout.strip().splitlines()
        return {"spec": name, "steps": steps, "seconds": seconds, "peak_gib": int(lines[-1]) / 2**20,
                "last_line": lines[-2]}


PEAK = """import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long", type=int, default=0, help="steps of the long recording run by the CLI (0: none)")
    args = parser.parse_args()
    print("| spec | steps | practice model, one call (steps/s) | predict, chunked (steps/s) | ratio |")
    print("|---|---|---|---|---|")
    for name in SPECS:
        r = rates(name, args.steps, args.repeats)
        print(f"| {name} | {r['steps']:,} | {r['whole']:,.0f} | {r['predict']:,.0f} | {r['predict'] / r['whole']:.2f} |",
              flush=True)
    if args.long:
        r = long_run("fcn-classifier", args.long)
        print(f"\n`causalc predict` on {r['steps']:,} steps of specs/fcn-classifier.yaml: {r['seconds']:.0f} s in all "
              f"(start-up included), peak resident memory {r['peak_gib']:.2f} GiB; it said: {r['last_line']}")


if __name__ == "__main__":
    main()
