"""ONNX export of the practice model (`causalc export`) and of the streaming step (`causalc export-step
--format onnx`): converted, checked with ONNX Runtime against Keras when it is installed, then written."""

from __future__ import annotations

import os

import click

from convert.cli.common import WARMUP, _analysis_or_exit, _keras_tools, cannot_write

CHECK_STEPS = 256  # steps of the check: ONNX Runtime against the stream, or the practice output at every step
TOLERANCE = 1e-5  # relative to the output's scale: float32 rounding of a different order of operations


def _onnx_tools():
    _keras_tools(tensorflow=True)
    from convert.runtime import onnx_export

    try:
        onnx_export._converter()
    except onnx_export.OnnxError as error:
        raise click.ClickException(str(error)) from None
    return onnx_export


def _convert(onnx_export, function) -> bytes:
    try:
        return onnx_export.convert(function)
    except onnx_export.OnnxError as error:
        raise click.ClickException(f"{error}; nothing written") from None


def _checked(error: float | None, what: str) -> str:
    """The check's verdict for the user, or an error (nothing written) when ONNX Runtime differs."""
    if error is None:
        return "not checked: onnxruntime is not installed"
    if error > TOLERANCE:
        raise click.ClickException(f"ONNX Runtime's {what} differs from Keras's by {error:.2e} (relative, over "
                                   f"{CHECK_STEPS} steps); nothing written")
    return f"ONNX Runtime equals Keras to {error:.1e} (relative) over {CHECK_STEPS} steps"


def _write(content: bytes, out: str) -> None:
    _, writer = _keras_tools()
    try:
        with writer.atomic_files(os.path.dirname(out)) as new:
            with open(new(out), "wb") as handle:
                handle.write(content)
    except OSError as error:
        raise cannot_write(error, out) from None


@click.command(name="export")
@click.argument("spec", type=click.Path())
@click.argument("model", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="FILE.onnx to write.")
@WARMUP
def export(spec: str, model: str, fmt: str, out: str, warmup: str) -> None:
    """Export the practice model MODEL of SPEC (every step's prediction in one pass; batch and sequence
    length dynamic) as ONNX, checked with ONNX Runtime against Keras."""
    if not out.endswith(".onnx"):
        raise click.UsageError(f"the output must end in .onnx; received {out}")
    analysis = _analysis_or_exit(spec)
    onnx_export = _onnx_tools()
    api, _ = _keras_tools()
    from convert.runtime.conditioning import random_arrays
    from convert.runtime.stream import check_warmup

    try:
        practice = api.load_model(model)
        api.check_compiled_from(model, analysis)
        check_warmup(practice, analysis, warmup)
        api.practice_weights(practice, analysis)  # the model is this spec's: every weight where the map says
    except (api.ModelFileError, api.WeightMismatch) as error:
        raise click.ClickException(f"{model} does not fit {spec}: {error}"
                                   if isinstance(error, api.WeightMismatch) else str(error)) from None
    nodes = analysis.spec.inputs
    content = _convert(onnx_export, onnx_export.practice_function(practice, nodes))
    arrays = random_arrays(nodes, analysis.window + CHECK_STEPS - 1)
    verdict = _checked(onnx_export.check_practice(content, practice, nodes, arrays), "practice output")
    _write(content, out)
    click.echo(f"wrote {out} (ONNX opset {onnx_export.OPSET}; inputs {', '.join(node.name for node in nodes)}, "
               f"output y; {verdict})")


def export_step_onnx(stream, out_dir: str, batch_size: int) -> None:
    """`causalc export-step --format onnx`: OUT_DIR/step.onnx."""
    from convert.runtime.export import initial_state, write_initial_state

    onnx_export = _onnx_tools()
    content = _convert(onnx_export, onnx_export.onnx_step_function(stream, batch_size))
    state = initial_state(stream, batch_size)
    if state is None:
        verdict = "not checked: exact warm-up with global inputs starts from a state they decide"
    else:
        values = onnx_export.random_steps(stream.nodes, CHECK_STEPS, batch_size)
        verdict = _checked(onnx_export.check_step(content, stream, batch_size, state, values), "step")
    out = os.path.join(out_dir, "step.onnx")
    _, writer = _keras_tools()
    try:
        with writer.atomic_files(out_dir) as new:  # the step and its initial state, or neither
            with open(new(out), "wb") as handle:
                handle.write(content)
            written = write_initial_state(state, out_dir, new) if state is not None else None
    except OSError as error:
        raise cannot_write(error, out) from None
    click.echo(f"wrote {out} (ONNX opset {onnx_export.OPSET}, batch {batch_size}; state in t and ring_*, "
               f"updated in t_next and ring_*_next; {verdict})")
    if written:
        click.echo(f"wrote {written} (the state to start from)")
    else:
        click.echo("no initial state written: in exact warm-up it depends on the global inputs "
                   "(StreamingModel.reset(batch, globals=...) computes it)")
