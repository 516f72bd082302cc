"""`causalc run-step`: an exported step (a folder written by export-step) run by ONNX Runtime or LiteRT
alone (`convert.deploy.runner`), generating or fed a recording. It never imports TensorFlow."""

from __future__ import annotations

import os
import time

import click

from convert.cli.common import _analysis_or_exit, failing, stream_files
from convert.cli.progress import Progress


@click.command(name="run-step")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--steps", type=click.IntRange(1), help="Generate this many samples (the output fed back).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1),
              help="Seed of the sampling: stream i draws from PCG64(SEED + i), as `causalc generate` does.")
@click.option("--temperature", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Sampling temperature.")
@click.option("--prime", type=click.Path(dir_okay=False),
              help="Samples (.npy, .wav) fed before generating; its last step is the first value fed back.")
@click.option("--condition", "conditions", multiple=True, metavar="NAME=FILE.npy",
              help="A conditioning input's values (repeat for each input besides the signal).")
@click.option("--input", "recording", type=click.Path(dir_okay=False),
              help="Feed this recording (.npy, .wav, .npz for several inputs) step by step instead of generating.")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="File to write: .npy (or .wav, one stream per file: {i} in the name) of the generated samples, "
                   "or .npy of one output row per step with --input.")
@click.option("--runtime", type=click.Choice(["onnx", "litert"]), default="onnx", show_default=True,
              help="onnx: DIR/step.onnx with ONNX Runtime; litert: DIR/step.tflite with LiteRT.")
@click.option("--int8", is_flag=True, help="Run the int8 step (step-int8.*) instead of the float one.")
@click.option("--batch-size", "--batch", "batch_size", type=click.IntRange(1),
              help="Streams run together; default and only value: the batch the step was exported for.")
@click.option("--threads", type=click.IntRange(1), help="Threads of the runtime (default: the runtime's choice).")
def run_step(folder: str, steps: int | None, seed: int, temperature: float, prime: str | None,
             conditions: tuple[str, ...], recording: str | None, out: str, runtime: str, int8: bool,
             batch_size: int | None, threads: int | None) -> None:
    """Run the exported step in DIR (from `causalc export-step`) with ONNX Runtime or LiteRT alone: generate
    --steps samples exactly as `causalc generate` samples, or feed --input step by step. Prints progress,
    then `N steps in X s (Y steps/s)`."""
    if (steps is None) == (recording is None):
        raise click.UsageError("give either --steps N (generate) or --input FILE (feed a recording)")
    if recording is not None and (prime or conditions):
        raise click.UsageError("--prime and --condition are for generation; a .npz --input holds every input")
    generating = recording is None
    suffixes = (".npy", ".wav") if generating else (".npy",)
    if not out.lower().endswith(suffixes):
        raise click.UsageError(f"the output must end in {' or '.join(suffixes)}; received {out}")
    target = os.path.dirname(out) or "."
    if not os.path.isdir(target) or not os.access(target, os.W_OK):  # known now, not after running
        raise click.UsageError(f"-o: {target} is not a folder causalc can write into")
    from convert.deploy import manifest as manifests
    from convert.deploy.runner import StepRunner

    with failing():
        described = manifests.read(folder)
    batch = described["batch_size"]
    if batch_size is not None and batch_size != batch:
        raise click.BadParameter(f"the step in {folder} was exported for a batch of {batch}: export it again with "
                                 f"export-step --batch-size {batch_size}", param_hint="--batch-size")
    outs = stream_files(out, batch)
    if generating and seed > 2**63 - batch:
        raise click.BadParameter(f"stream i is seeded SEED + i, so SEED must be at most 2**63 - {batch}",
                                 param_hint="--seed")
    analysis = _analysis_or_exit(os.path.join(folder, manifests.SPEC))
    with failing():
        arrays, given, first = fed(analysis, batch, recording, prime, conditions, steps)
        runner = StepRunner(folder, runtime, int8, threads)
    total = steps if generating else arrays[runner.signal].shape[1]
    began = time.perf_counter()
    with failing(suffix="; nothing written"), Progress(total, "generating" if generating else "stepping") as progress:
        if generating:
            result = runner.generate(steps, seed, first, given, temperature, progress.advance)
        else:
            result = runner.run(arrays, progress.advance)
    elapsed = time.perf_counter() - began
    from convert.backends.write import atomic_files
    from convert.runtime.audio import write_samples

    kind = (described["feedback"] or {}).get("kind")
    if generating and out.lower().endswith(".wav") and kind in ("level", "one-hot"):
        from convert.deploy.runner import decode_table

        result = decode_table(runner.units - 1)[result]
    with failing(writing=out), atomic_files(target) as new:
        for i, path in enumerate(outs):
            write_samples(new(path), result[i] if len(outs) > 1 or batch == 1 else result)
    click.echo(f"wrote {out if len(outs) == 1 else outs[0] + ' ... ' + outs[-1]}: "
               + (f"{total} samples" if generating else f"{total} output rows") + (f" x {batch} streams" if batch > 1 else "")
               + f" ({runtime}{' int8' if int8 else ''})")
    click.echo(f"{total} steps in {elapsed:.2f} s ({total / max(elapsed, 1e-9):,.0f} steps/s)")


def fed(analysis, batch: int, recording: str | None, prime: str | None, conditions: tuple[str, ...], steps):
    """(the recording's arrays with a batch axis, the conditions in spec order, the prime)."""
    import numpy as np

    from convert.runtime.feeds import read_conditions, read_primes

    nodes = analysis.spec.inputs
    if recording is not None:
        from convert.runtime import recordings

        values = recordings.read(recording, analysis)
        arrays = [np.repeat(np.asarray(v[:] if not node.is_global else v)[None], batch, axis=0) for node, v in zip(nodes, values)]
        return [a.astype(np.int32 if node.categories else np.float32) for node, a in zip(nodes, arrays)], None, None
    primes = read_primes((prime,), analysis, batch) if prime else None
    last = (primes.shape[1] if primes is not None else 1) - 1 + steps
    given = read_conditions(analysis, conditions, last, batch)
    listed = [None if node is analysis.spec.signal else given[node.name] for node in nodes] if given else None
    return None, listed, primes
