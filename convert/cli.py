"""The command line: parses options, runs the pipeline and maps results to output and exit codes."""

from __future__ import annotations

import json
import os
import sys

import click

from convert.frontend.diagnostics import Diagnostic
from convert.pipeline import check

EXIT_CLEAN, EXIT_PROBLEMS = 0, 1  # usage errors exit 2 through click.UsageError
SPEC_SUFFIXES = (".yaml", ".yml")


class ProblemsFound(click.ClickException):
    """Diagnostics were printed already; exit 1 without another message."""

    exit_code = EXIT_PROBLEMS

    def __init__(self):
        super().__init__("")

    def show(self, file=None) -> None:
        pass


def _use_color(stream) -> bool:
    """Colour on a terminal, plain when piped; NO_COLOR (any value) turns it off."""
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def _print_diagnostics(diagnostics: list[Diagnostic], fmt: str = "text", err: bool = True) -> None:
    from convert.frontend.formats import FORMATS

    stream = click.get_text_stream("stderr" if err else "stdout")
    out = FORMATS[fmt](diagnostics, color=_use_color(stream))
    if out or fmt in ("json", "sarif"):
        click.echo(out, err=err)


def _spec_files(paths: tuple[str, ...]) -> list[str]:
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files += [os.path.join(root, n) for n in sorted(names) if n.endswith(SPEC_SUFFIXES)]
        elif os.path.exists(path):
            files.append(path)
        else:
            raise click.UsageError(f"no such file or folder: {path}")
    return files


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="causalc", prog_name="causalc")
def main() -> None:
    """Compile per-step autoregressive 1-D networks into stride-1 causal dilated networks."""


def _explain_code(ctx: click.Context, param, code: str | None) -> None:
    if code is None or ctx.resilient_parsing:
        return
    from convert.frontend.codes import RULES
    from convert.frontend.formats import explain_rule

    if code.upper() not in RULES:
        raise click.BadParameter(f"unknown code {code!r}; codes: {', '.join(sorted(RULES))}", ctx, param)
    click.echo(explain_rule(code.upper()))
    ctx.exit(EXIT_CLEAN)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "sarif"]), default="text",
              show_default=True, help="text for people, json for scripts, github for workflow annotations, "
              "sarif for code scanning.")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when problems are found.")
@click.option("--explain", "code", metavar="CODE", expose_value=False, is_eager=True, callback=_explain_code,
              help="Print what a diagnostic code means, why, and an example fix.")
def lint(paths: tuple[str, ...], fmt: str, strict: bool, exit_zero: bool) -> None:
    """Check spec files (or folders of *.yaml) and report every problem with its location."""
    if not paths:
        raise click.UsageError("give spec files or folders to lint, or --explain CODE")
    files = _spec_files(paths)
    diagnostics = [d for path in files for d in check(path).diagnostics]
    _print_diagnostics(diagnostics, fmt, err=False)
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if fmt == "text":
        summary = f"{len(files)} spec(s) checked: {errors} error(s), {warnings} warning(s)"
        click.echo(summary if diagnostics else f"{len(files)} spec(s) checked: all clean", err=True)
    if (errors or (strict and warnings)) and not exit_zero:
        raise ProblemsFound()


WARMUP = click.option("--warmup", type=click.Choice(["causal", "exact"]), default="causal", show_default=True,
                      help="causal: every practice layer pads its own input (Keras's causal padding); exact: only "
                      "the input is padded, so warm-up steps equal the per-step model on zero-padded windows.")


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@WARMUP
def explain(specs: tuple[str, ...], fmt: str, warmup: str) -> None:
    """Print the dilation table: per-step and practice form of every layer."""
    from convert.report import explain_data, explain_text

    results = [check(path) for path in _spec_files(specs)]
    problems = [d for r in results for d in r.diagnostics if d.is_error]
    if problems:
        _print_diagnostics(problems)
        raise ProblemsFound()
    if fmt == "json":
        data = [explain_data(r.analysis, warmup) for r in results]
        click.echo(json.dumps(data[0] if len(data) == 1 else data, indent=2))
        return
    color = _use_color(click.get_text_stream("stdout"))
    for result in results:
        click.echo(explain_text(result.analysis, warmup, color))


def _analysis_or_exit(spec: str):
    """The analysed spec; its warnings go to stderr, its errors end the command with exit 1."""
    if not os.path.exists(spec):
        raise click.UsageError(f"no such file: {spec}")
    checked = check(spec)
    if checked.diagnostics:
        _print_diagnostics(checked.diagnostics)
    if not checked.ok:
        raise ProblemsFound()
    return checked.analysis


def _keras_tools():
    """The TensorFlow-backed modules, or a message saying what to install."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not for users
    try:
        from convert.backends import write as writer
        from convert.runtime import api
    except ImportError as error:
        raise click.ClickException(f"this command needs TensorFlow ({error.name} is missing): "
                                   "pip install 'causalc[tensorflow]'") from None
    return api, writer


@main.command(name="compile")
@click.argument("spec", type=click.Path())
@click.option("-o", "--output-dir", "out_dir", default="build", show_default=True, type=click.Path(file_okay=False),
              help="Folder for STEM.keras, STEM.map.json and STEM.py.")
@WARMUP
def compile_command(spec: str, out_dir: str, warmup: str) -> None:
    """Compile SPEC into the practice Keras model, its source and its weight map."""
    analysis = _analysis_or_exit(spec)
    _, writer = _keras_tools()
    try:
        written = writer.write_outputs(analysis, out_dir, warmup)
    except OSError as error:
        raise click.ClickException(f"cannot write to {out_dir}: {error.strerror or error}") from None
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"window {analysis.window}, receptive field {analysis.receptive_field}, "
               f"{analysis.params:,} parameters, warm-up {warmup}")


def _convert(spec: str, model_path: str, out: str, direction: str, warmup: str = "causal") -> None:
    analysis = _analysis_or_exit(spec)
    api, writer = _keras_tools()
    try:
        source = api.load_model(model_path)
        model = api.to_step(source, analysis) if direction == "to-step" else api.from_step(source, analysis, warmup)
    except (api.ModelFileError, api.WeightMismatch) as error:
        raise click.ClickException(f"{model_path} does not fit {spec}: {error}"
                                   if isinstance(error, api.WeightMismatch) else str(error)) from None
    if not out.endswith(".keras"):
        raise click.UsageError(f"the output must end in .keras; received {out}")
    try:
        writer.save_model(model, out)
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror or error}") from None
    click.echo(f"wrote {out}")


@main.command(name="to-step")
@click.argument("spec", type=click.Path())
@click.argument("practice", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="STEP.keras to write.")
def to_step_command(spec: str, practice: str, out: str) -> None:
    """Build the per-step model of SPEC holding the weights of the practice model PRACTICE."""
    _convert(spec, practice, out, "to-step")


@main.command(name="from-step")
@click.argument("spec", type=click.Path())
@click.argument("step", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="PRACTICE.keras to write.")
@WARMUP
def from_step_command(spec: str, step: str, out: str, warmup: str) -> None:
    """Build the practice model of SPEC holding the weights of the per-step model STEP."""
    _convert(spec, step, out, "from-step", warmup)


def _stream(spec: str, model_path: str, warmup: str):
    analysis = _analysis_or_exit(spec)
    api, _ = _keras_tools()
    from convert.runtime.stream import StreamingModel

    try:
        return StreamingModel(api.load_model(model_path), analysis, warmup)
    except (api.ModelFileError, api.WeightMismatch) as error:
        raise click.ClickException(str(error)) from None


def _read_prime(path: str, channels: int):
    import numpy as np

    from convert.runtime.audio import read_samples

    try:
        samples = read_samples(path)
    except (OSError, ValueError) as error:
        raise click.ClickException(f"cannot read the prime {path}: {error}") from None
    samples = samples.reshape(len(samples), -1) if samples.ndim <= 2 else samples
    if samples.shape[1] != channels or len(samples) == 0:
        raise click.ClickException(f"the prime {path} has shape {samples.shape}; expected (steps, {channels})")
    return np.asarray(samples, np.float32)


@main.command()
@click.argument("spec", type=click.Path())
@click.argument("model", type=click.Path())
@click.option("--steps", required=True, type=click.IntRange(1), help="Samples to generate.")
@click.option("--prime", type=click.Path(dir_okay=False), help="A .npy or .wav file whose samples start the stream.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sampling.")
@click.option("--temperature", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Softmax temperature for a mu-law output.")
@click.option("--sample-rate", default=16000, show_default=True, type=click.IntRange(1), help="For a .wav output.")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="OUT.npy or OUT.wav.")
@WARMUP
def generate(spec: str, model: str, steps: int, prime: str | None, seed: int, temperature: float, sample_rate: int,
             out: str, warmup: str) -> None:
    """Generate STEPS samples autoregressively with the practice MODEL of SPEC, streaming."""
    if not out.endswith((".npy", ".wav")):
        raise click.UsageError(f"the output must end in .npy or .wav; received {out}")
    stream = _stream(spec, model, warmup)
    try:
        stream.output_kind
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if out.endswith(".wav") and stream.channels != 1:
        raise click.UsageError(f"a .wav output needs one channel; the spec has {stream.channels}")
    first = None
    if prime:
        samples = _read_prime(prime, stream.channels)
        stream.run(samples[None, :-1])
        first = samples[None, -1]
    from rich.progress import Progress

    from convert.runtime.audio import write_samples

    with Progress(transient=True) as progress:
        task = progress.add_task("generating", total=steps)
        samples = stream.generate(steps, first=first, seed=seed, temperature=temperature,
                                  progress=lambda n: progress.advance(task, n))[0]
    _, writer = _keras_tools()
    with writer.atomic_files(os.path.dirname(out)) as new:
        write_samples(new(out), samples, sample_rate)
    click.echo(f"wrote {out}: {steps} samples ({stream.output_kind} output)")


@main.command(name="export-step")
@click.argument("spec", type=click.Path())
@click.argument("model", type=click.Path())
@click.option("-o", "--output-dir", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--batch-size", default=1, show_default=True, type=click.IntRange(1))
@click.option("--tflite/--no-tflite", default=True, show_default=True, help="Also write step.tflite.")
@WARMUP
def export_step(spec: str, model: str, out_dir: str, batch_size: int, tflite: bool, warmup: str) -> None:
    """Export the streaming step of MODEL, with its state as explicit inputs and outputs, as a SavedModel
    (and TFLite) that runs without causalc."""
    stream = _stream(spec, model, warmup)
    try:
        written = stream.export(out_dir, batch_size, tflite)
    except OSError as error:
        raise click.ClickException(f"cannot write to {out_dir}: {error.strerror or error}") from None
    for kind, path in written.items():
        click.echo(f"wrote {path} ({kind})")


@main.command()
@click.argument("spec", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(1), help="Timed runs per figure (median).")
@click.option("--batch", default=4, show_default=True, type=click.IntRange(1), help="Sequences per training step.")
@click.option("--length", type=click.IntRange(2), help="Steps per sequence; default: 4 windows (at least 1024).")
@click.option("--window-batch", default=256, show_default=True, type=click.IntRange(1),
              help="Windows per per-step training step.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False),
              help="Also write a PNG of training speed-up against window size for WaveNet-style specs "
              "(W = 16 to 4096; needs the `plot` extra).")
def bench(spec: str, fmt: str, repeats: int, batch: int, length: int | None, window_batch: int,
          plot: str | None) -> None:
    """Measure the practice model against the per-step method: training, inference, memory, analysis."""
    analysis = _analysis_or_exit(spec)
    _keras_tools()
    from rich.console import Console

    from convert.runtime import bench as measure

    if plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise click.ClickException("--plot needs matplotlib: pip install 'causalc[plot]'") from None
    console = Console(stderr=True)
    with console.status("measuring") as status:
        report = measure.run_bench(analysis, batch, length, window_batch, repeats,
                                   progress=lambda what: status.update(f"measuring {what}"))
        if plot:
            windows = tuple(int(w) for w in os.environ.get("CAUSALC_BENCH_WINDOWS", "").split(",") if w) or \
                (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
            report["speedup_by_window"] = measure.speedup_by_window(
                windows, repeats=max(1, repeats // 2), progress=lambda what: status.update(f"plot: {what}"))
            measure.plot_speedup(report["speedup_by_window"], plot)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    from convert.report import bench_lines

    for line in bench_lines(report):
        click.echo(line)
    if plot:
        click.echo(f"wrote {plot}")


@main.command()
def schema() -> None:
    """Print a draft-07 JSON Schema of the spec format, for editors and validators."""
    from convert.frontend.schema import schema_json

    click.echo(schema_json(), nl=False)


def run() -> None:
    """Console entry point: never a traceback for the user; CAUSALC_DEBUG=1 shows one."""
    try:
        main(prog_name="causalc")
    except Exception as error:  # a bug in causalc, not bad input
        if os.environ.get("CAUSALC_DEBUG"):
            raise
        click.echo(f"causalc: internal error: {type(error).__name__}: {error}\n"
                   "Please report this with the spec that caused it (CAUSALC_DEBUG=1 shows the traceback).", err=True)
        sys.exit(EXIT_PROBLEMS)
