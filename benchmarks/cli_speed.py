"""Wall-clock figures for the TensorFlow-free tools: lint, explain and analysis of very large specs.

Run from the repository root with causalc installed: `python benchmarks/cli_speed.py [--repeats N]`.
Each figure is the median of N runs of a fresh process (what a user or CI pays), or of N in-process
calls for the analysis of generated specs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from convert.timing import analysis_times  # noqa: E402


def wall(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    causalc = [sys.executable, "-m", "convert"]
    if shutil.which("causalc"):
        causalc = [shutil.which("causalc")]
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; median of {args.repeats} runs")
    python = wall([sys.executable, "-c", "pass"], args.repeats)
    print(f"  python -c pass (interpreter start-up)    {python:7.3f} s")
    for label, command in [("causalc lint specs", ["lint", "specs"]),
                           ("causalc explain specs/wavenet.yaml", ["explain", "specs/wavenet.yaml"]),
                           ("causalc lint specs/dense-four.yaml", ["lint", "specs/dense-four.yaml"])]:
        print(f"  {label:40s} {wall(causalc + command, args.repeats):7.3f} s")
    with tempfile.TemporaryDirectory() as folder:
        many = os.path.join(folder, "many")
        os.makedirs(many)
        specs = sorted(n for n in os.listdir(os.path.join(ROOT, "specs")) if n.endswith(".yaml"))
        for i in range(1000):
            shutil.copy(os.path.join(ROOT, "specs", specs[i % len(specs)]), os.path.join(many, f"spec{i:04d}.yaml"))
        print(f"  {'causalc lint (1,000 spec files)':40s} {wall(causalc + ['lint', many], max(1, args.repeats // 2)):7.3f} s")
        picture = os.path.join(folder, "wavenet.png")
        print(f"  {'causalc draw specs/wavenet.yaml -o x.png':40s} "
              f"{wall(causalc + ['draw', 'specs/wavenet.yaml', '-o', picture], max(1, args.repeats // 2)):7.3f} s")
        for layers, times in analysis_times((1_000, 10_000, 20_000), max(1, args.repeats // 2)).items():
            layers, whole, pure = int(layers), times["check_seconds"], times["analysis_seconds"]
            print(f"  {layers:6,d}-layer spec: read + check + analyse {whole:7.3f} s   (analysis alone {pure:6.3f} s)")


if __name__ == "__main__":
    main()
