"""The command line: parses options, runs the pipeline and maps results to output and exit codes."""

from __future__ import annotations

import json
import os
import sys

import click

from convert.diagnostics import Diagnostic
from convert.pipeline import check

EXIT_CLEAN, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
SPEC_SUFFIXES = (".yaml", ".yml")


class ProblemsFound(click.ClickException):
    """Diagnostics were printed already; exit 1 without another message."""

    exit_code = EXIT_PROBLEMS

    def __init__(self):
        super().__init__("")

    def show(self, file=None) -> None:
        pass


def _print_diagnostics(diagnostics: list[Diagnostic], fmt: str = "text") -> None:
    from convert.report import diagnostic_text, diagnostics_json

    if fmt == "json":
        click.echo(diagnostics_json(diagnostics))
    else:
        for d in diagnostics:
            click.echo(diagnostic_text(d), err=True)


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


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
def lint(paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check spec files (or folders of *.yaml) and report every problem with its location."""
    files = _spec_files(paths)
    diagnostics = [d for path in files for d in check(path).diagnostics]
    _print_diagnostics(diagnostics, fmt)
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if fmt == "text":
        summary = f"{len(files)} spec(s) checked: {errors} error(s), {warnings} warning(s)"
        click.echo(summary if diagnostics else f"{len(files)} spec(s) checked: all clean", err=True)
    if errors or (strict and warnings):
        raise ProblemsFound()


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(specs: tuple[str, ...], fmt: str) -> None:
    """Print the dilation table: per-step and practice form of every layer."""
    from convert.report import explain_data, explain_table

    results = [check(path) for path in _spec_files(specs)]
    problems = [d for r in results for d in r.diagnostics if d.is_error]
    if problems:
        _print_diagnostics(problems)
        raise ProblemsFound()
    if fmt == "json":
        data = [explain_data(r.analysis) for r in results]
        click.echo(json.dumps(data[0] if len(data) == 1 else data, indent=2))
        return
    from rich.console import Console

    console = Console(highlight=False)
    for result in results:
        explain_table(result.analysis, console)


@main.command(name="compile")
@click.argument("spec", type=click.Path())
@click.option("-o", "--output-dir", "out_dir", default="build", show_default=True, type=click.Path(file_okay=False),
              help="Folder for STEM.keras, STEM.map.json and STEM.py.")
def compile_command(spec: str, out_dir: str) -> None:
    """Compile SPEC into the practice Keras model, its source and its weight map."""
    from convert.pipeline import front_end
    from convert.diagnostics import SpecError

    if not os.path.exists(spec):
        raise click.UsageError(f"no such file: {spec}")
    try:
        practice = front_end(spec)
    except SpecError as error:
        _print_diagnostics(error.diagnostics)
        raise ProblemsFound()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not for users
    try:
        from convert.compile import write_outputs
    except ImportError as error:
        raise click.ClickException(f"`causalc compile` needs TensorFlow ({error.name} is missing): "
                                   "pip install 'causalc[tensorflow]'") from None
    try:
        written = write_outputs(practice, out_dir)
    except OSError as error:
        raise click.ClickException(f"cannot write to {out_dir}: {error.strerror or error}") from None
    analysis = practice.analysis
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"window {analysis.window}, receptive field {analysis.receptive_field}, "
               f"{analysis.params:,} parameters, {len(practice.layers)} practice layers")


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
