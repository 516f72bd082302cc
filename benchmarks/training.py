"""Training speed of `causalc train`: one process against two worker processes on this machine.

Both runs train the same spec with the same global batch, seed and steps; the two workers split every
global batch and sum their gradients through TensorFlow's MultiWorkerMirroredStrategy over 127.0.0.1.
Predictions per second (steps with a whole window, over the global batch) are measured from the step
log, after the first `--skip` steps (graph tracing). On a machine of 2 cores the workers share them: this
reports what happens, it does not promise a speed-up.
Run: `python benchmarks/training.py [--spec specs/wavenet.yaml] [--steps 30] [--batch-size 8] [--length 2048]`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _port() -> int:
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


def _rate(log: str, skip: int) -> tuple[float, float]:
    records = [json.loads(line) for line in open(log, encoding="utf-8")]
    first, last = records[skip - 1], records[-1]
    steps = last["step"] - first["step"]
    per_step = last["predictions_per_second"] * last["seconds"] / (last["step"] + 1)  # predictions per step
    return steps * per_step / (last["seconds"] - first["seconds"]), last["loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="specs/wavenet.yaml")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=2048)
    parser.add_argument("--skip", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as folder:
        signal = os.path.join(folder, "signal.npy")
        t = np.arange(200_000)
        np.save(signal, (0.6 * np.sin(2 * np.pi * 440 * t / 16_000) + 0.05 *
                         np.random.default_rng(0).normal(size=t.size)).astype(np.float32))
        common = [sys.executable, "-m", "convert", "train", args.spec, signal, "--steps", str(args.steps),
                  "--batch-size", str(args.batch_size), "--length", str(args.length)]
        subprocess.run(common + ["-o", os.path.join(folder, "one.keras"), "--log", os.path.join(folder, "one.jsonl")],
                       check=True, env=env, cwd=ROOT, capture_output=True)
        cluster = f"127.0.0.1:{_port()},127.0.0.1:{_port()}"
        workers = [subprocess.Popen(common + ["-o", os.path.join(folder, f"w{i}.keras"), "--log",
                                              os.path.join(folder, f"w{i}.jsonl"), "--cluster", cluster,
                                              "--worker-index", str(i)], env=env, cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                   for i in range(2)]
        for worker in workers:
            _, err = worker.communicate()
            if worker.returncode:
                raise SystemExit(err.decode()[-2000:])
        one, loss_one = _rate(os.path.join(folder, "one.jsonl"), args.skip)
        two, loss_two = _rate(os.path.join(folder, "w0.jsonl"), args.skip)
    print(f"{args.spec}: global batch {args.batch_size} x {args.length} steps, {args.steps} steps "
          f"(rates over steps {args.skip}..{args.steps - 1}); {os.cpu_count()} cores")
    print(f"  one process        {one:12,.0f} predictions/s   final loss {loss_one:.6f}")
    print(f"  two worker processes {two:10,.0f} predictions/s   final loss {loss_two:.6f}  ({two / one:.2f}x)")


if __name__ == "__main__":
    main()
