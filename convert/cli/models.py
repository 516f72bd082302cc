"""The commands that build, convert, run and measure Keras models (TensorFlow needed)."""

from __future__ import annotations

import json
import math
import os

import click

from convert.core.errors import CausalcError

from convert.cli.common import WARMUP, _analysis_or_exit, failing, require_keras, stream_files


@click.command(name="compile")
@click.argument("spec", type=click.Path())
@click.option("-o", "--output-dir", "out_dir", default="build", show_default=True, type=click.Path(file_okay=False),
              help="Folder to write (made if missing): STEM.keras, STEM.map.json and STEM.py.")
@WARMUP
def compile_command(spec: str, out_dir: str, warmup: str) -> None:
    """Compile SPEC into the practice Keras model, its source and its weight map."""
    analysis = _analysis_or_exit(spec)
    require_keras()
    from convert.pipeline import compile_spec

    with failing(writing=out_dir):
        written = compile_spec(analysis, out_dir, warmup)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"window {analysis.window}, receptive field {analysis.receptive_field}, "
               f"{analysis.params:,} parameters, warm-up {warmup}")


def _convert(spec: str, model_path: str, out: str, direction: str, warmup: str = "causal") -> None:
    analysis = _analysis_or_exit(spec)
    require_keras()
    from convert.backends.write import save_model
    from convert.runtime import api

    source = api.load_model(model_path)
    with failing(f"{model_path} does not fit {spec}: ", only=api.WeightMismatch):
        api.check_compiled_from(model_path, analysis)  # when a weight map is beside the model, it must be this spec's
        model = api.to_step(source, analysis) if direction == "to-step" else api.from_step(source, analysis, warmup)
    if not out.endswith(".keras"):
        raise click.UsageError(f"the output must end in .keras; received {out}")
    with failing(writing=out):
        save_model(model, out)
    click.echo(f"wrote {out}")


@click.command(name="to-step")
@click.argument("spec", type=click.Path())
@click.argument("practice", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="File to write: STEP.keras.")
def to_step_command(spec: str, practice: str, out: str) -> None:
    """Build the per-step model of SPEC holding the weights of the practice model PRACTICE."""
    _convert(spec, practice, out, "to-step")


@click.command(name="from-step")
@click.argument("spec", type=click.Path())
@click.argument("step", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="File to write: PRACTICE.keras.")
@WARMUP
def from_step_command(spec: str, step: str, out: str, warmup: str) -> None:
    """Build the practice model of SPEC holding the weights of the per-step model STEP."""
    _convert(spec, step, out, "from-step", warmup)


@click.command(name="fold-batchnorm")
@click.argument("spec", type=click.Path())
@click.argument("model", type=click.Path())
@click.option("-o", "--output-dir", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write (made if missing): STEM-folded.yaml and STEM-folded.keras.")
@WARMUP
def fold_batchnorm_command(spec: str, model: str, out_dir: str, warmup: str) -> None:
    """Fold each BatchNormalization that follows a convolution into it, for inference and export: writes the
    spec without those layers and its practice model with the folded weights (equal outputs, fewer layers)."""
    analysis = _analysis_or_exit(spec)
    require_keras(tensorflow=True)
    from convert.backends.write import atomic_files
    from convert.runtime import api
    from convert.runtime.fold import fold_checked

    source = api.load_fitting(model, analysis, warmup)
    stem = os.path.join(out_dir, f"{analysis.spec.name}-folded")
    text, folded, names, error = fold_checked(source, analysis, stem + ".yaml", warmup)
    with failing(writing=out_dir):
        with atomic_files(out_dir) as new:
            with open(new(stem + ".yaml"), "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            folded.save(new(stem + ".keras"))
    click.echo(f"folded {len(names)} BatchNormalization layer(s){': ' + ', '.join(names) if names else ''}; "
               f"{len(source.layers)} -> {len(folded.layers)} layers; outputs equal to {error:.1e} (relative)")
    click.echo(f"wrote {stem}.yaml\nwrote {stem}.keras")


def _stream(analysis, model_path: str, warmup: str):
    require_keras(tensorflow=True)
    from convert.runtime import api
    from convert.runtime.stream import StreamingModel

    return StreamingModel(api.load_fitting(model_path, analysis), analysis, warmup)  # the stream checks the warm-up


@click.command()
@click.argument("spec", type=click.Path())
@click.argument("model", type=click.Path())
@click.option("--steps", required=True, type=click.IntRange(1), help="Samples to generate.")
@click.option("--batch-size", "--batch", "batch", default=1, show_default=True, type=click.IntRange(1, 4096),
              help="Independent streams generated together; stream i is seeded SEED + i.")
@click.option("--prime", "primes", multiple=True, type=click.Path(dir_okay=False),
              help="A .npy or .wav file whose samples (or integer levels) start the stream: once for every "
                   "stream, or once per stream (--batch-size), all of one length.")
@click.option("--condition", "conditions", multiple=True, metavar="NAME=FILE.npy",
              help="A conditioning input's values, as the practice model takes them without the batch axis: "
                   "a hop input's frames (F, C), from the first step on; a global input's vector (C,) or "
                   "integer; repeat for each input. With --batch-size N, a leading axis of N gives each stream its own.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1),
              help="Seed of the sampling (0 to 2**63 - 1): stream i draws from PCG64(SEED + i).")
@click.option("--temperature", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Softmax temperature for a sampled output (levels).")
@click.option("--sample-rate", default=16000, show_default=True, type=click.IntRange(1, 2**32 - 1),
              help="For a .wav output.")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="File to write: OUT.npy (samples, or integer levels; with --batch-size N, all streams in one array) or OUT.wav "
                   "(levels written as their mu-law samples); `{i}` in the name writes one file per stream.")
@WARMUP
def generate(spec: str, model: str, steps: int, batch: int, primes: tuple[str, ...], conditions: tuple[str, ...],
             seed: int, temperature: float, sample_rate: int, out: str, warmup: str) -> None:
    """Generate STEPS samples autoregressively with the practice MODEL of SPEC, streaming. What is fed back
    follows from the spec: a softmax over levels as mu-law samples, one-hot vectors or integer levels; a
    regression output as it is."""
    if not out.lower().endswith((".npy", ".wav")):
        raise click.UsageError(f"the output must end in .npy or .wav; received {out}")
    outs = stream_files(out, batch)
    if len(primes) not in (0, 1, batch):
        raise click.UsageError(f"--prime: give one file for every stream or one per stream ({batch}); "
                               f"received {len(primes)}")
    if seed > 2**63 - batch:
        raise click.BadParameter(f"stream i is seeded SEED + i, so SEED must be at most 2**63 - {batch}",
                                 param_hint="--seed")
    if not math.isfinite(temperature):
        raise click.BadParameter(f"must be a finite number; received {temperature}", param_hint="--temperature")
    folder = os.path.dirname(out) or "."
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):  # known now, not after generating
        raise click.UsageError(f"-o: {folder} is not a folder causalc can write into")
    analysis = _analysis_or_exit(spec)  # the spec, its output and the files it is fed: checked before Keras loads
    from convert.runtime.audio import MAX_SAMPLES
    from convert.runtime.feedback import output_kind
    from convert.runtime.feeds import read_conditions, read_primes

    channels = analysis.spec.signal.channels
    if batch * steps * channels > MAX_SAMPLES:
        raise click.BadParameter(f"{batch} x {steps:,} steps of {channels} channel(s) pass causalc's limit of "
                                 f"{MAX_SAMPLES:,} generated values", param_hint="--steps")
    kind = output_kind(analysis)
    if out.lower().endswith(".wav") and kind not in ("level", "one-hot") and channels != 1:
        raise click.UsageError(f"a .wav output needs one channel; the spec has {channels}")
    samples = read_primes(primes, analysis, batch) if primes else None
    last = (samples.shape[1] if samples is not None else 1) - 1 + steps  # the last step generated
    given = read_conditions(analysis, conditions, last, batch)
    stream = _stream(analysis, model, warmup)
    from convert.backends.write import atomic_files
    from convert.cli.progress import Progress
    from convert.runtime.audio import write_samples
    from convert.runtime.generation import generate_from

    with Progress(batch * steps, "generating", "samples") as progress, failing(suffix="; nothing written"):
        result = generate_from(stream, steps, batch, samples, given, seed, temperature,
                               progress=lambda n: progress.advance(batch * n),
                               decode=out.lower().endswith(".wav") and kind in ("level", "one-hot"))
    with failing(writing=out), atomic_files(os.path.dirname(out)) as new:  # every stream's file, or none
        for i, path in enumerate(outs):
            write_samples(new(path), result[i] if len(outs) > 1 or batch == 1 else result, sample_rate)
    what = f"{steps} samples" if batch == 1 else f"{batch} streams of {steps} samples"
    click.echo(f"wrote {out if len(outs) == 1 else ', '.join(outs) if batch <= 4 else outs[0] + ' ... ' + outs[-1]}: "
               f"{what} ({kind} output)")


@click.command(name="export-step")
@click.argument("spec", type=click.Path())
@click.argument("model", type=click.Path())
@click.option("-o", "--output-dir", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write the step into (made if missing): its files, initial_state.npz and step.json.")
@click.option("--format", "fmt", type=click.Choice(["saved_model", "onnx"]), default="saved_model", show_default=True,
              help="saved_model: OUT_DIR/saved_model (and step.tflite); onnx: OUT_DIR/step.onnx, checked with ONNX Runtime.")
@click.option("--batch-size", "--batch", "batch_size", default=1, show_default=True, type=click.IntRange(1),
              help="Sequences the step runs side by side (fixed in the exported step).")
@click.option("--tflite/--no-tflite", default=True, show_default=True, help="Also write step.tflite (saved_model format).")
@click.option("--quantize", type=click.Choice(["int8"]),
              help="Also write an int8 step calibrated on --calibration: step-int8.tflite (full-integer LiteRT; "
              "saved_model format) or step-int8.onnx (QDQ; onnx format), with its size and agreement with the float step.")
@click.option("--calibration", type=click.Path(dir_okay=False),
              help="The recording to calibrate --quantize on (.npy, .wav, .npz for several inputs), fed step by step.")
@WARMUP
def export_step(spec: str, model: str, out_dir: str, fmt: str, batch_size: int, tflite: bool, quantize: str | None,
                calibration: str | None, warmup: str) -> None:
    """Export the streaming step of MODEL, with its state as explicit inputs and outputs, as a SavedModel
    (and TFLite) or as ONNX, that runs without causalc (`causalc run-step OUT_DIR`), and optionally in int8."""
    if (quantize is None) != (calibration is None):
        raise click.UsageError("--quantize int8 and --calibration FILE go together: the int8 step is calibrated "
                               "on the recording")
    if quantize and fmt == "saved_model" and not tflite:
        raise click.UsageError("--quantize int8 with the saved_model format writes step-int8.tflite: leave out --no-tflite")
    analysis = _analysis_or_exit(spec)
    recording = None
    if calibration is not None:
        from convert.cli.deploy import fed

        with failing(prefix="--calibration: "):
            recording = fed(analysis, batch_size, calibration, None, (), None)[0]
    stream = _stream(analysis, model, warmup)
    if fmt == "onnx":
        from convert.cli.export import export_step_onnx

        return export_step_onnx(stream, out_dir, batch_size, recording)
    with failing(writing=out_dir):
        written = stream.export(out_dir, batch_size, tflite, recording)
    for kind, path in written.items():
        click.echo(f"wrote {path} ({kind})")


@click.command()
@click.argument("spec", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for scripts.")
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(1), help="Timed runs per figure (median).")
@click.option("--batch-size", "--batch", "batch", default=4, show_default=True, type=click.IntRange(1),
              help="Sequences per training step.")
@click.option("--length", type=click.IntRange(2), help="Steps per sequence; default: 4 windows (at least 1024).")
@click.option("--window-batch", default=256, show_default=True, type=click.IntRange(1),
              help="Windows per per-step training step.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False),
              help="Also write a PNG of training speed-up against window size for WaveNet-style specs "
              "(W = 16 to 4096, SPEC's own point marked), measured in the same run with the same settings "
              "(needs the `plot` extra).")
def bench(spec: str, fmt: str, repeats: int, batch: int, length: int | None, window_batch: int,
          plot: str | None) -> None:
    """Measure the practice model against the per-step method: training, inference, memory, analysis."""
    analysis = _analysis_or_exit(spec)
    node = analysis.spec.inputs[0]
    if len(analysis.spec.inputs) > 1 or node.categories:
        raise click.ClickException(f"bench measures specs of one float input; {analysis.spec.name} has "
                                   f"{'several inputs' if len(analysis.spec.inputs) > 1 else 'a categorical input'} "
                                   "(benchmarks/streaming.py measures conditioned streaming)")
    require_keras(tensorflow=True)
    from rich.console import Console

    from convert.bench import measure

    if plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise click.ClickException("--plot needs matplotlib: pip install 'causalc[plot]'") from None
        folder = os.path.dirname(plot) or "."
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):  # known now, not after the benchmark
            raise click.UsageError(f"--plot: {folder} is not a folder causalc can write into")
        if not plot.endswith(".png"):
            raise click.UsageError(f"--plot must end in .png; received {plot}")
    console = Console(stderr=True)
    with console.status("measuring") as status:
        report = measure.run_bench(analysis, batch, length, window_batch, repeats,
                                   progress=lambda what: status.update(f"measuring {what}"))
        if plot:
            windows = tuple(int(w) for w in os.environ.get("CAUSALC_BENCH_WINDOWS", "").split(",") if w) or \
                (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
            report["speedup_by_window"] = measure.speedup_by_window(  # the table's settings, in the same run
                windows, batch=batch, length=length, window_batch=window_batch, repeats=repeats,
                progress=lambda what: status.update(f"plot: {what}"))
            from convert.backends.write import atomic_files

            own = {"name": report["spec"], "window": report["window"], "speedup": report["training"]["speedup"],
                   "mac_ratio": report["training"]["mac_ratio"]}
            try:
                with failing(writing=plot), atomic_files(os.path.dirname(plot)) as new:
                    measure.plot_speedup(report["speedup_by_window"], new(plot), own)
            except CausalcError:
                click.echo(json.dumps(report, indent=2), err=True)  # the measurements are not lost
                raise
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    from convert.views.explain import bench_lines

    for line in bench_lines(report):
        click.echo(line)
    if plot:
        click.echo(f"wrote {plot}")
