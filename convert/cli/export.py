"""ONNX export of the practice model (`causalc export`) and of the streaming step (`causalc export-step
--format onnx`): converted, checked with ONNX Runtime against Keras when it is installed, then written
(`convert.runtime.onnx_export`)."""

from __future__ import annotations

import os

import click

from convert.cli.common import WARMUP, _analysis_or_exit, failing, require_keras


def _onnx_tools():
    require_keras(tensorflow=True)
    from convert.runtime import onnx_export

    onnx_export._converter()  # tf2onnx installed, or a message saying what to install
    return onnx_export


@click.command(name="export")
@click.argument("spec", type=click.Path())
@click.argument("model", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="The file format: onnx (opset 17; batch and sequence length dynamic).")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="File to write: FILE.onnx.")
@WARMUP
def export(spec: str, model: str, fmt: str, out: str, warmup: str) -> None:
    """Export the practice model MODEL of SPEC (every step's prediction in one pass; batch and sequence
    length dynamic) as ONNX, checked with ONNX Runtime against Keras."""
    if not out.endswith(".onnx"):
        raise click.UsageError(f"the output must end in .onnx; received {out}")
    analysis = _analysis_or_exit(spec)
    onnx_export = _onnx_tools()
    from convert.runtime import api

    practice = api.load_fitting(model, analysis, warmup)  # the model is this spec's: every weight where the map says
    with failing(writing=out):
        said = onnx_export.export_practice(practice, analysis, out)
    nodes = analysis.spec.inputs
    click.echo(f"wrote {out} (ONNX opset {onnx_export.OPSET}; inputs {', '.join(node.name for node in nodes)}, "
               f"output y; {said})")


def export_step_onnx(stream, out_dir: str, batch_size: int, calibration: list | None = None) -> None:
    """`causalc export-step --format onnx`: OUT_DIR/step.onnx and its initial state (and step-int8.onnx)."""
    onnx_export = _onnx_tools()
    with failing(writing=f"{out_dir}/step.onnx"):
        out, said, written, int8 = onnx_export.export_step_onnx(stream, out_dir, batch_size, calibration)
    click.echo(f"wrote {out} (ONNX opset {onnx_export.OPSET}, batch {batch_size}; state in t and ring_*, the "
               f"host writes each ring_*_column at row t % length; {said})")
    if int8 is not None:
        click.echo(f"wrote {int8[0]} (int8 QDQ: {int8[1]})")
    click.echo(f"wrote {os.path.join(out_dir, 'step.json')} (how to drive it: causalc run-step {out_dir} ...)")
    if written:
        click.echo(f"wrote {written} (the state to start from)")
    else:
        click.echo("no initial state written: in exact warm-up it depends on the global inputs "
                   "(StreamingModel.reset(batch, globals=...) computes it)")
