"""Wall-clock figures for the TensorFlow-free tools: start-up, lint, explain and analysis of very large specs.

Run from the repository root with causalc installed: `python benchmarks/cli_speed.py [--repeats N]`
(`--startup` for the start-up ratios alone; `--causalc PATH` to time another installation's script).
Each figure is the median of N runs of a fresh process (what a user or CI pays), or of N in-process
calls for the analysis of generated specs. The start-up ratios (`causalc --version` and `causalc lint specs`
against a bare `python -c pass`, targets 4x and 8x) are measured together, interleaved round by round, so
that the machine's load weighs on all three alike.
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

from convert.bench.timing import analysis_times  # noqa: E402


def wall(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _hard_specs() -> list[tuple[str, str]]:
    """Specs that make lint work hardest: branches whose alignments never agree over a common period past the
    search limit (every candidate window tried), at 6 lines and at about 100 KB, and a stated window that
    misaligns a 1,200-layer chain (nearest windows searched on both sides)."""
    def primes(copies: int) -> str:
        lines = ["input: {channels: 1}", "layers:"]
        for branch, extra in (("c", 0), ("d", 1)):
            previous = "input"
            for i, stride in enumerate([2, 3, 5, 7, 11, 13, 17]):
                kernel = stride + (extra if i == 0 else 0)
                lines.append(f"  - {{type: Conv1D, name: {branch}{i}, filters: 1, kernel_size: {kernel}, strides: "
                             f"{stride}, inputs: {previous}}}")
                previous = f"{branch}{i}"
            for j in range(copies):  # width-keeping layers that make the spec long
                lines.append(f"  - {{type: Activation, name: {branch}a{j}, activation: relu, inputs: {previous}}}")
                previous = f"{branch}a{j}"
            lines.append(f"  - {{type: Activation, name: {branch}out, activation: linear, inputs: {previous}}}")
        lines.append("  - {type: Add, name: add, inputs: [cout, dout]}\n  - {type: Flatten, name: f}\n"
                     "  - {type: Dense, name: o, units: 1}")
        return "\n".join(lines) + "\n"

    chain = ["input: {channels: 1, window: 5000}", "layers:"]
    chain += [f"  - {{type: Conv1D, name: c{i}, filters: 1, kernel_size: 2, strides: {7 if i == 600 else 1}}}"
              for i in range(1200)]
    chain.append("  - {type: Flatten, name: f}\n  - {type: Dense, name: d, units: 1}")
    return [("lint: no window, 7 prime strides", primes(0)), ("lint: no window, 100 KB", primes(750)),
            ("lint: misaligned window, 1,200 layers", "\n".join(chain) + "\n")]


def startup(causalc: list[str], python: str, rounds: int) -> None:
    """`python -c pass`, `causalc --version` and `causalc lint specs`, interleaved: medians and ratios."""
    commands = {"python -c pass": [python, "-c", "pass"], "causalc --version": causalc + ["--version"],
                "causalc lint specs": causalc + ["lint", "specs"]}
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(rounds):
        for label, command in commands.items():
            times[label].append(wall(command, 1))
    bare = statistics.median(times["python -c pass"])
    print(f"start-up, {rounds} interleaved rounds (median):")
    for label, target in (("python -c pass", None), ("causalc --version", 4), ("causalc lint specs", 8)):
        median = statistics.median(times[label])
        ratio = f"   {median / bare:5.1f}x the bare interpreter (target <= {target}x)" if target else ""
        print(f"  {label:40s} {median:7.3f} s{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--startup", action="store_true", help="only the start-up ratios")
    parser.add_argument("--causalc", help="the causalc script to time (default: the one on PATH)")
    args = parser.parse_args()
    causalc = [sys.executable, "-m", "convert"]
    if args.causalc or shutil.which("causalc"):
        causalc = [args.causalc or shutil.which("causalc")]
    python = os.path.join(os.path.dirname(causalc[0]), "python") if args.causalc else sys.executable
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; median of {args.repeats} runs")
    startup(causalc, python, 3 * args.repeats)
    if args.startup:
        return
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
        for label, text in _hard_specs():  # the limit: any spec under 100 KB in under 2 s
            path = os.path.join(folder, "hard.yaml")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            print(f"  {label:40s} {wall(causalc + ['lint', path], max(1, args.repeats // 2)):7.3f} s   "
                  f"({len(text.encode()) / 1000:.0f} KB)")
        picture = os.path.join(folder, "wavenet.png")
        print(f"  {'causalc draw specs/wavenet.yaml -o x.png':40s} "
              f"{wall(causalc + ['draw', 'specs/wavenet.yaml', '-o', picture], max(1, args.repeats // 2)):7.3f} s")
        for layers, times in analysis_times((1_000, 10_000, 20_000), max(1, args.repeats // 2)).items():
            layers, whole, pure = int(layers), times["check_seconds"], times["analysis_seconds"]
            print(f"  {layers:6,d}-layer spec: read + check + analyse {whole:7.3f} s   (analysis alone {pure:6.3f} s)")


if __name__ == "__main__":
    main()
