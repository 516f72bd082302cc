"""The command line: parses options, runs the pipeline and maps results to output and exit codes.

`checking` holds the TensorFlow-free commands (lint, explain, schema), `models` those that build and run
Keras models; `common` what they share.
"""

from __future__ import annotations

import os
import sys

import click

from convert import limits
from convert.cli import checking, models
from convert.cli.common import EXIT_PROBLEMS, _use_color  # noqa: F401  (tests patch the colour decision)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="causalc", prog_name="causalc")
@click.option("--max-parameters", type=click.IntRange(1), default=None, metavar="N",
              help=f"Largest network a spec may ask for, in parameters (default {limits.MAX_PARAMETERS:,}: "
              f"{limits.MAX_PARAMETERS * 4 / 2**30:.0f} GiB of float32 weights); above it, E211 before anything is built.")
def main(max_parameters: int | None) -> None:
    """Compile per-step autoregressive 1-D networks into stride-1 causal dilated networks."""
    if max_parameters is not None:
        limits.MAX_PARAMETERS = max_parameters


for _command in (checking.lint, checking.explain, models.compile_command, models.to_step_command,
                 models.from_step_command, models.fold_batchnorm_command, models.generate, models.export_step,
                 models.bench, checking.schema, checking.import_command, checking.draw):
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
