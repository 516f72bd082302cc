"""Streaming generation with conditioning against the same network without it.

The conditioned network is specs/vocoder.yaml (mel frames every 256 steps and a speaker id, projected
into every gated block); the unconditioned one is the same spec with its conditioning inputs and the
layers that read only them removed (each block's sums then hold the dilated convolution alone). Both
generate the same number of samples at batch 1 (and at --batch) with random weights, after a warm-up
run that compiles the graphs. Run: `python benchmarks/conditioning.py [--samples 32000] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import yaml  # noqa: E402

from convert import api  # noqa: E402
from convert.runtime.stream import StreamingModel  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from streaming import randomize, streaming_rate  # noqa: E402

SPEC = "specs/vocoder.yaml"


def unconditioned(spec: dict) -> dict:
    """The spec without its conditioning inputs and every layer that reads only them."""
    keep = {spec["inputs"][0]["name"]}
    layers = []
    previous = None
    for layer in spec["layers"]:
        inputs = layer.get("inputs", previous)
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        kept = [name for name in inputs if name in keep]
        previous = layer["name"]
        if not kept:
            continue
        layer = dict(layer, inputs=kept if len(kept) > 1 else kept[0])
        if layer["type"] in ("Add", "Multiply", "Concatenate") and len(kept) == 1:
            layer = {"type": "Activation", "name": layer["name"], "inputs": kept[0], "activation": "linear"}
        layers.append(layer)
        keep.add(layer["name"])
    return {"name": spec["name"] + "-unconditioned", "inputs": spec["inputs"][:1], "layers": layers,
            "output": spec.get("output", spec["layers"][-1]["name"])}


def rate(path: str, samples: int, repeats: int, batch: int) -> tuple[float, int]:
    model = api.practice_model(path)
    randomize(model)
    rng = np.random.default_rng(0)
    stream = StreamingModel(model, path)
    conditions = None
    if len(stream.nodes) > 1:
        frames = samples // 256 + 2
        conditions = {"mel": rng.normal(size=(batch, frames, 80)).astype(np.float32),
                      "speaker": rng.integers(0, 4, size=batch).astype(np.int32)}
    return streaming_rate(stream, samples, repeats, batch, conditions), stream.analysis.macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    with open(SPEC, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    with tempfile.TemporaryDirectory() as folder:
        plain = os.path.join(folder, "unconditioned.yaml")
        with open(plain, "w", encoding="utf-8") as handle:
            yaml.safe_dump(unconditioned(spec), handle, sort_keys=False)
        print(f"{os.cpu_count()} cores, TensorFlow {tf.__version__}; samples/s over all streams, median of "
              f"{args.repeats}, {args.samples:,} samples per stream")
        print(f"{'batch':>5}  {'conditioned':>12}  {'unconditioned':>13}  {'ratio':>5}")
        for batch in (1, args.batch):
            with_, macs_with = rate(SPEC, args.samples, args.repeats, batch)
            without, macs_without = rate(plain, args.samples, args.repeats, batch)
            print(f"{batch:>5}  {with_:12,.0f}  {without:13,.0f}  {without / with_:5.2f}x")
        print(f"multiply-adds per step: {macs_with:,} conditioned (its 1x1 projections of the conditioning included; "
              "the stream computes them per chunk, before its loop), "
              f"{macs_without:,} unconditioned")


if __name__ == "__main__":
    main()
