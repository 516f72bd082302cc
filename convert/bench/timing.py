"""Timing helpers shared by `causalc bench` and the benchmark scripts (TensorFlow-free)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Callable


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """The median wall time of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def analysis_times(sizes=(100, 1_000, 10_000), repeats: int = 3, progress=lambda _: None) -> dict:
    """For generated chains of each size: seconds to read and check the file, and to analyse the spec."""
    from convert.analysis import analyse
    from convert.bench.families import chain_spec
    from convert.pipeline import check, without_cyclic_gc

    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for layers in sizes:
            progress(f"analysis: {layers:,}-layer spec")
            path = os.path.join(folder, f"chain{layers}.yaml")
            with open(path, "w") as handle:
                handle.write(chain_spec(layers))
            checked = check(path)
            assert checked.ok and checked.analysis.window == layers + 1
            out[str(layers)] = {
                "check_seconds": median_seconds(lambda: check(path), repeats, warmup=1),
                "analysis_seconds": median_seconds(lambda: without_cyclic_gc(analyse)(checked.analysis.spec), repeats,
                                                   warmup=1),
            }
    return out
