"""The TensorFlow-free commands: lint, explain and schema."""

from __future__ import annotations

import json
import os

import click

from convert.cli.linting import FORMAT_NAMES, lint_report
from convert.cli.common import EXIT_CLEAN, WARMUP, ProblemsFound, _print_diagnostics, _spec_files, _use_color, failing
from convert.frontend.source import regular_or_absent
from convert.pipeline import check


def _explain_code(ctx: click.Context, param, code: str | None) -> None:
    if code is None or ctx.resilient_parsing:
        return
    from convert.core.codes import RULES
    from convert.frontend.formats import explain_rule

    if code.upper() not in RULES:
        raise click.BadParameter(f"unknown code {code!r}; codes: {', '.join(sorted(RULES))}", ctx, param)
    click.echo(explain_rule(code.upper()))
    ctx.exit(EXIT_CLEAN)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default="text",
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
    if lint_report(_spec_files(paths), fmt, strict, exit_zero, click.echo, click.get_text_stream("stdout")):
        raise ProblemsFound()


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people (a table per spec), json for scripts.")
@WARMUP
def explain(specs: tuple[str, ...], fmt: str, warmup: str) -> None:
    """Print the dilation table: per-step and practice form of every layer."""
    from convert.views.explain import explain_data, explain_text

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


@click.command()
def schema() -> None:
    """Print a draft-07 JSON Schema of the spec format, for editors and validators."""
    from convert.frontend.schema import schema_json

    click.echo(schema_json(), nl=False)


@click.command(name="import")
@click.argument("model", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="File to write: SPEC.yaml.")
@click.option("--practice", "practice_out", type=click.Path(dir_okay=False),
              help="Also write PRACTICE.keras: the practice model carrying MODEL's weights, checked against MODEL.")
@WARMUP
def import_command(model: str, out: str, practice_out: str | None, warmup: str) -> None:
    """Write the spec of MODEL: a per-step Keras model (.keras or .h5; Sequential or functional, fixed
    window) or a practice-form one (causal convolutions, dilations; keras-tcn's TCN), with the model's layer
    names; or a per-step ONNX model (.onnx, e.g. from torch.onnx.export; (batch, C, W) or (batch, W, C))."""
    from convert.importers.keras import import_model

    if not out.endswith((".yaml", ".yml")):
        raise click.UsageError(f"the output must end in .yaml or .yml; received {out}")
    if practice_out is not None and not practice_out.endswith(".keras"):
        raise click.UsageError(f"--practice must end in .keras; received {practice_out}")
    with failing(f"cannot import {model}: ", "; nothing written"):
        text, checked, found = import_model(model, out)
    regular_or_absent(out, "-o")
    practice = None
    if practice_out is not None:
        if not checked.ok:
            _print_diagnostics(checked.diagnostics)
            raise ProblemsFound()
        regular_or_absent(practice_out, "--practice")
        practice, error = _imported_practice(model, checked.analysis, found, warmup)
    from convert.core.files import remove_staged, staged_file

    names: list[str] = []
    try:
        with failing(writing=out):
            staged = []
            if practice is not None:
                temp = staged_file(os.path.dirname(os.path.abspath(practice_out)), ".keras", names)
                practice.save(temp)
                staged.append((temp, practice_out))
            temp = staged_file(os.path.dirname(os.path.abspath(out)), ".yaml", names)
            with open(temp, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(text)
            staged.append((temp, out))
            for temp, final in staged:
                os.replace(temp, final)
    finally:  # an error or a signal leaves no staged file
        remove_staged(names)
    form = "practice-form model" if found["practice_form"] else f"window {found['window']}"
    click.echo(f"wrote {out}: {found['layers']} layers, {form}, {found['channels']} channel(s)")
    if checked.diagnostics:
        _print_diagnostics(checked.diagnostics)
    if not checked.ok:
        raise ProblemsFound()
    analysis = checked.analysis
    if practice is not None:
        checked_text = f"largest relative difference from it {error:.1e}" if error is not None else \
            "not run against it: keras-tcn, which runs its TCN layers, is not installed"
        click.echo(f"wrote {practice_out}: the practice model with {model}'s weights ({checked_text}, warm-up {warmup})")
    click.echo(f"window {analysis.window}, receptive field {analysis.receptive_field}, {analysis.params:,} "
               "parameters" + ("" if practice is not None else
                               f"; `causalc from-step {out} {model} -o PRACTICE.keras` carries the weights"))


def _imported_practice(model: str, analysis, found: dict, warmup: str):
    """(the practice model carrying MODEL's weights, its check's relative difference); Keras needed."""
    from convert.cli.common import require_keras

    if found["practice_form"] and warmup != "causal":
        raise click.UsageError("a practice-form model pads causally: --warmup exact does not apply to it")
    require_keras()
    from convert.runtime import carry

    with failing(f"cannot carry {model}'s weights: ", "; nothing written"):
        return carry.practice_of(model, analysis, found, warmup)


@click.command()
@click.argument("spec", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="File to write: FIG.svg, FIG.png or FIG.pdf.")
@click.option("--form", type=click.Choice(["per-step", "practice", "both"]), default="both", show_default=True,
              help="per-step: the network on one window; practice: the compiled network over time; both: side by side.")
@click.option("--steps", type=click.IntRange(2, 4096), help="Time steps of the practice form's run, drawn linearly "
              "(default: the receptive field and a few more; a receptive field past 60 steps drawn whole on a log axis).")
@click.option("--expand", is_flag=True, help="Draw every block (by default a picture of more than 24 rows draws "
              "each run of three or more like blocks as its first block, one shaded row for those between, and its last).")
def draw(spec: str, out: str, form: str, steps: int | None, expand: bool) -> None:
    """Draw SPEC: the per-step network and its practice form, with the connections that reach the output."""
    from convert.views.draw import SUFFIXES

    if not out.lower().endswith(SUFFIXES):
        raise click.UsageError(f"the output must end in {', '.join(SUFFIXES)}; received {out}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise click.ClickException("draw needs matplotlib: pip install 'causalc[plot]'") from None
    checked = check(spec) if os.path.exists(spec) else None
    if checked is None:
        raise click.UsageError(f"no such file: {spec}")
    if checked.diagnostics:
        _print_diagnostics(checked.diagnostics)
    if not checked.ok:
        raise ProblemsFound()
    from convert.core.files import remove_staged, staged_file
    from convert.views.draw import draw as draw_spec

    directory = os.path.dirname(os.path.abspath(out))
    regular_or_absent(out, "-o")
    names: list[str] = []
    try:
        with failing(writing=out):
            temp = staged_file(directory, os.path.splitext(out)[1], names)
            draw_spec(checked.analysis, temp, form, steps, expand)
            os.replace(temp, out)
    finally:  # an error or a signal leaves no staged file
        remove_staged(names)
    click.echo(f"wrote {out}")
