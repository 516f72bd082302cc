"""The command line: parses options, runs the pipeline and maps results to output and exit codes.

`checking` holds the TensorFlow-free commands (lint, explain, schema), `models` those that build and run
Keras models; `common` what they share.
"""

from __future__ import annotations

import os
import sys

import click

from convert.core import limits
from convert.cli import checking, export, models
from convert.cli.predict import predict
from convert.cli.train import train
from convert.cli.common import EXIT_PROBLEMS, _use_color, said  # noqa: F401  (tests patch the colour decision)
from convert.core.errors import CausalcError, InternalError


class _Commands(click.Group):
    """causalc's commands: every CausalcError one lets through is said here, once (`common.said`)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CausalcError as error:
            if os.environ.get("CAUSALC_DEBUG") and isinstance(error, InternalError):
                raise
            raise said(error) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="causalc", prog_name="causalc")
@click.option("--max-parameters", type=click.IntRange(1), default=None, metavar="N",
              help=f"Largest network a spec may ask for, in parameters (default {limits.DEFAULT_MAX_PARAMETERS:,}: "
              f"{limits.DEFAULT_MAX_PARAMETERS * 4 / 2**30:.0f} GiB of float32 weights); above it, E211 before anything is built.")
@click.option("--max-step-values", type=click.IntRange(1), default=None, metavar="N",
              help=f"Largest practice model, in activations per time step of a sequence (default "
              f"{limits.DEFAULT_MAX_STEP_VALUES:,}: 64 MiB); above it, E212.")
def main(max_parameters: int | None, max_step_values: int | None) -> None:
    """Compile per-step autoregressive 1-D networks into stride-1 causal dilated networks."""
    limits.MAX_PARAMETERS = max_parameters or limits.DEFAULT_MAX_PARAMETERS  # per invocation, never carried over
    limits.MAX_STEP_VALUES = max_step_values or limits.DEFAULT_MAX_STEP_VALUES


for _command in (checking.lint, checking.explain, models.compile_command, models.to_step_command,
                 models.from_step_command, models.fold_batchnorm_command, models.generate, export.export, models.export_step,
                 models.bench, checking.schema, checking.import_command, checking.draw, train, predict):
    main.add_command(_command)


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
