"""The exported step against causalc's in-process stream, in one run: samples/s of `StreamingModel.run` (the
step looped inside one XLA program) and of the exported step driven by its runner (`convert.deploy.runner`:
one runtime call per step, each ring's column written in place) with ONNX Runtime and LiteRT, float and
int8 (`export-step --quantize int8`, batch 1).

Networks: specs/wavenet.yaml (10 gated blocks, 32 channels, receptive field 1,024); the nv-wavenet size (16
gated blocks, residual 64, skip 256, receptive field 65,536); and wavenet's layers behind a stride-64
embedding (the same multiply-adds per step as wavenet, a receptive field 64 times larger). Batch 1 and 64;
random weights (speed does not depend on them). The ratio is the runtime's samples/s over the stream's.
Also the fixed cost of one ONNX Runtime call (an Identity model bound like the step).

    .venv/bin/python benchmarks/deploy.py                 # the table in docs/deployment.md, ~10 minutes on 2 cores
    .venv/bin/python benchmarks/deploy.py --quick         # batch 1 only, fewer steps
"""

from __future__ import annotations

import argparse
import json
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
from convert.bench.families import wavenet_spec  # noqa: E402
from convert.runtime.onnx_export import export_step_onnx  # noqa: E402
from convert.runtime.stream import StreamingModel  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from streaming import randomize  # noqa: E402  (the streaming benchmark's random weights)


def wavenet_text() -> str:
    return open(os.path.join(ROOT, "specs", "wavenet.yaml")).read()


def wide_field_spec() -> str:
    """specs/wavenet.yaml with a stride-64 1x1 embedding: the same multiply-adds per step, every later
    dilation 64 times wavenet's."""
    text = wavenet_text().replace("name: wavenet", "name: wavenet-rf64").replace("window: 1024", f"window: {64 * 1023 + 1}")
    return text.replace("name: embed, filters: 32, kernel_size: 1}", "name: embed, filters: 32, kernel_size: 1, strides: 64}")


NETWORKS = {
    "specs/wavenet.yaml": wavenet_text,
    "nv-wavenet size": lambda: wavenet_spec(65536, 64, 256, name="nv-wavenet"),
    "wavenet, RF x64": wide_field_spec,
}


def stream_rate(stream, batch: int, steps: int, repeats: int) -> float:
    x = np.random.default_rng(0).normal(size=(batch, steps, 1)).astype(np.float32) * 0.3
    stream.reset(batch)
    stream.run(x[:, :64])  # compiled
    rates = []
    for _ in range(repeats):
        stream.reset(batch)
        start = time.perf_counter()
        stream.run(x)
        rates.append(batch * steps / (time.perf_counter() - start))
    return float(np.median(rates))


RUNNER = """
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np
from convert.deploy.runner import StepRunner
out = {{}}
for runtime, folder, int8 in {folders!r}:
    runner = StepRunner(folder, runtime, int8=int8)
    x = np.random.default_rng(0).normal(size=({batch}, {steps}, 1)).astype(np.float32) * 0.3
    runner.run([x])  # untimed: a first pass over fresh rings can run 1.6x slower (512 MB of them at batch 64)
    runner.reset()
    start = time.perf_counter()
    runner.run([x])
    out[runtime + ("-int8" if int8 else "")] = {batch} * {steps} / (time.perf_counter() - start)
print(json.dumps(out))
"""


def runner_rates(folders: list, batch: int, steps: int) -> dict:
    """Samples/s of the runner over each (runtime, folder, int8) by "runtime" or "runtime-int8", in a child
    process that never imports TensorFlow (as a deployment runs; TensorFlow's thread pools in the same process
    would slow the runtime down)."""
    code = RUNNER.format(root=ROOT, folders=folders, batch=batch, steps=steps)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def call_cost(calls: int = 20000) -> float:
    """Microseconds of one ONNX Runtime call of an Identity model, inputs and outputs bound as the runner binds."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    binding = session.io_binding()
    binding.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 1), np.float32)))
    binding.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 1), np.float32)))
    for _ in range(1000):
        session.run_with_iobinding(binding)
    start = time.perf_counter()
    for _ in range(calls):
        session.run_with_iobinding(binding)
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="steps per timed run at batch 1")
    parser.add_argument("--batch-steps", type=int, default=400, help="steps per timed run at batch 64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="batch 1 only, 1,000 steps")
    parser.add_argument("--no-int8", action="store_true", help="leave out the int8 steps")
    args = parser.parse_args()
    batches = (1,) if args.quick else (1, 64)
    steps = {1: 1000 if args.quick else args.steps, 64: args.batch_steps}
    work = tempfile.mkdtemp(prefix="causalc-deploy-")
    print(f"one ONNX Runtime call (Identity, bound): {call_cost():.1f} us", flush=True)
    print("| network | receptive field | batch | stream samples/s | ONNX Runtime samples/s (ratio) | LiteRT samples/s (ratio) |")
    print("|---|---:|---:|---:|---:|---:|")
    per_step, int8 = {}, {}
    for name, text in NETWORKS.items():
        path = os.path.join(work, name.replace(" ", "-").replace("/", "-").replace(",", "") + ".yaml")
        with open(path, "w") as handle:
            handle.write(text())
        analysis = api.load(path)
        model = api.practice_model(analysis)
        randomize(model)
        stream = StreamingModel(model, analysis)
        for batch in batches:
            n = steps[batch]
            onnx_folder, lite_folder = os.path.join(work, f"{analysis.spec.name}-{batch}-onnx"), \
                os.path.join(work, f"{analysis.spec.name}-{batch}-lite")
            export_step_onnx(stream, onnx_folder, batch)
            stream.export(lite_folder, batch)
            measured = {"stream": [], "onnx": [], "litert": []}
            for _ in range(args.repeats):  # interleaved: the machine's speed drifts, the ratios should not
                measured["stream"].append(stream_rate(stream, batch, n, 1))
                for runtime, rate in runner_rates([("onnx", onnx_folder, False), ("litert", lite_folder, False)],
                                                  batch, n).items():
                    measured[runtime].append(rate)
            base, onnx, lite = (float(np.median(measured[k])) for k in ("stream", "onnx", "litert"))
            per_step[(name, batch)] = (onnx, lite)
            if batch == 1 and not args.no_int8:  # int8 is for devices: one sequence
                calibration = [np.random.default_rng(1).normal(size=(1, 2000, 1)).astype(np.float32) * 0.3]
                export_step_onnx(stream, onnx_folder, batch, calibration)
                stream.export(lite_folder, batch, True, calibration)
                rates = {}  # float and int8 in one child, interleaved
                for _ in range(args.repeats):
                    for key, rate in runner_rates([(r, f, q) for q in (False, True) for r, f in
                                                   (("onnx", onnx_folder), ("litert", lite_folder))], batch, n).items():
                        rates.setdefault(key, []).append(rate)
                int8[name] = tuple(float(np.median(rates[k])) for k in ("onnx", "litert", "onnx-int8", "litert-int8"))
            print(f"| {name} | {analysis.receptive_field:,} | {batch} | {base:,.0f} | {onnx:,.0f} ({onnx / base:.2f}x) | "
                  f"{lite:,.0f} ({lite / base:.2f}x) |", flush=True)
    for batch in batches:
        small, wide = per_step[("specs/wavenet.yaml", batch)], per_step[("wavenet, RF x64", batch)]
        print(f"batch {batch}: per-step time of the RF x64 network over wavenet's: ONNX Runtime "
              f"{small[0] / wide[0]:.2f}x, LiteRT {small[1] / wide[1]:.2f}x")
    if int8:
        print("\nint8 steps at batch 1 (export-step --quantize int8, calibrated on 2,000 steps of noise):")
        print("| network | float ONNX Runtime | int8 ONNX Runtime (ratio) | float LiteRT | int8 LiteRT (ratio) |")
        print("|---|---:|---:|---:|---:|")
        for name, (onnx, lite, q_onnx, q_lite) in int8.items():
            print(f"| {name} | {onnx:,.0f} | {q_onnx:,.0f} ({q_onnx / onnx:.2f}x) | {lite:,.0f} | "
                  f"{q_lite:,.0f} ({q_lite / lite:.2f}x) |", flush=True)


if __name__ == "__main__":
    main()
