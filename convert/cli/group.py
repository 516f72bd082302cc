"""The click group: the commands (each imported when it runs), the options every command shares, the
console entry point and how signals end a run."""

from __future__ import annotations

import importlib
import os
import signal
import sys

import click

from convert import __version__
from convert.core import limits
from convert.core.errors import CausalcError, InternalError

EXIT_PROBLEMS = 1

# name: (module, function, the start of its help, as `causalc --help` lists it without importing it; "..."
# where it goes on)
COMMANDS = {
    "bench": ("models", "bench", "Measure the practice model against the per-step method: training, inference, "
              "memory, analysis."),
    "compile": ("models", "compile_command", "Compile SPEC into the practice Keras model, its source and its weight map."),
    "draw": ("checking", "draw", "Draw SPEC: the per-step network and its practice form, with the connections that "
             "reach the output."),
    "explain": ("checking", "explain", "Print the dilation table: per-step and practice form of every layer."),
    "export": ("export", "export", "Export the practice model MODEL of SPEC ..."),
    "export-step": ("models", "export_step", "Export the streaming step of MODEL, with its state as explicit inputs "
                    "and outputs, ..."),
    "fold-batchnorm": ("models", "fold_batchnorm_command", "Fold each BatchNormalization that follows a convolution "
                       "into it, for inference and export."),
    "from-step": ("models", "from_step_command", "Build the practice model of SPEC holding the weights of the "
                  "per-step model STEP."),
    "generate": ("models", "generate", "Generate STEPS samples autoregressively with the practice MODEL of SPEC, "
                 "streaming."),
    "import": ("checking", "import_command", "Write the spec of MODEL: a per-step Keras model ..."),
    "lint": ("checking", "lint", "Check spec files (or folders of *.yaml) and report every problem with its location."),
    "predict": ("predict", "predict", "Write the practice MODEL's prediction at every step of each recording INPUT."),
    "run-step": ("deploy", "run_step", "Run the exported step in DIR (from `causalc export-step`) with ONNX Runtime or "
                 "LiteRT alone."),
    "schema": ("checking", "schema", "Print a draft-07 JSON Schema of the spec format, for editors and validators."),
    "to-step": ("models", "to_step_command", "Build the per-step model of SPEC holding the weights of the practice "
                "model PRACTICE."),
    "train": ("train", "train", "Train the practice model of SPEC on DATA files."),
}


class _Size(click.ParamType):
    name = "size"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return limits.parse_size(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


class _Commands(click.Group):
    """causalc's commands, each imported when it is asked for (`COMMANDS`); every CausalcError one lets
    through is said here, once (`common.said`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, function, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"convert.cli.{module}"), function)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CausalcError as error:
            if os.environ.get("CAUSALC_DEBUG") and isinstance(error, InternalError):
                raise
            from convert.cli.common import said

            raise said(error) from None
        except KeyboardInterrupt:  # Ctrl-C: what was staged is gone already (the unwinding removed it)
            raise SystemExit(128 + signal.SIGINT) from None
        except OSError as error:  # the system refused a read or a write no command foresaw: say which and why
            if os.environ.get("CAUSALC_DEBUG"):
                raise
            from convert.cli.common import CannotWrite, said

            where = f" {error.filename}" if error.filename else ""
            raise said(CannotWrite(f"input/output error{where}: {error.strerror or error}; nothing written")) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="causalc")  # not importlib.metadata: start-up
@click.option("--max-parameters", type=click.IntRange(1), default=None, metavar="N",
              help=f"Largest network a spec may ask for, in parameters (default {limits.DEFAULT_MAX_PARAMETERS:,}: "
              f"{limits.DEFAULT_MAX_PARAMETERS * 4 / 2**30:.0f} GiB of float32 weights); above it, E211 before anything is built.")
@click.option("--max-step-values", type=click.IntRange(1), default=None, metavar="N",
              help=f"Largest practice model, in activations per time step of a sequence (default "
              f"{limits.DEFAULT_MAX_STEP_VALUES:,}: 64 MiB); above it, E212.")
@click.option("--max-memory", type=_Size(), default=None, metavar="SIZE",
              help=f"Largest allocation causalc sizes from its inputs and options (a stream's state, a training "
              f"batch, an array read from a file), e.g. 8GiB (default {limits.size_text(limits.DEFAULT_MAX_MEMORY)}); "
              "above it, refused before anything is allocated.")
def main(max_parameters: int | None, max_step_values: int | None, max_memory: int | None) -> None:
    """Compile per-step autoregressive 1-D networks into stride-1 causal dilated networks."""
    before = (limits.MAX_PARAMETERS, limits.MAX_STEP_VALUES, limits.MAX_MEMORY)
    limits.MAX_PARAMETERS = max_parameters or limits.DEFAULT_MAX_PARAMETERS  # per invocation, never carried over
    limits.MAX_STEP_VALUES = max_step_values or limits.DEFAULT_MAX_STEP_VALUES
    limits.MAX_MEMORY = max_memory or limits.DEFAULT_MAX_MEMORY

    def restore() -> None:  # a caller in the same process (the Python API after `main`) keeps its own limits
        limits.MAX_PARAMETERS, limits.MAX_STEP_VALUES, limits.MAX_MEMORY = before

    click.get_current_context().call_on_close(restore)


_SIGNALLED: list[int] = []  # the signals that stopped this run


def _terminate(signum, frame) -> None:
    """SIGTERM or SIGHUP, raised in the main thread as SystemExit(128 + signal) so that the run unwinds like
    an interrupt and every output staged so far (`convert.backends.write.atomic_files`, draw's and import's
    files) is removed on the way."""
    _SIGNALLED.append(signum)
    raise SystemExit(128 + signum)


def _interrupt(signum, frame) -> None:
    _SIGNALLED.append(signum)
    raise KeyboardInterrupt


def run() -> None:
    """Console entry point: never a traceback for the user; CAUSALC_DEBUG=1 shows one. A signal unwinds the
    run (removing what it staged) and ends it with 128 + the signal, whatever the unwinding met: an
    extension module interrupted mid-import says ImportError, not KeyboardInterrupt."""
    for name, handler in (("SIGTERM", _terminate), ("SIGHUP", _terminate), ("SIGINT", _interrupt)):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)
    try:
        main(prog_name="causalc")
    except (SystemExit, KeyboardInterrupt):
        if not _SIGNALLED:
            raise
    except Exception as error:  # a bug in causalc, not bad input (or a signal seen through an extension)
        if _SIGNALLED:
            pass  # said below, as the signal
        elif os.environ.get("CAUSALC_DEBUG"):
            raise
        else:
            click.echo(f"causalc: internal error: {type(error).__name__}: {error}\n"
                       "Please report this with the spec that caused it (CAUSALC_DEBUG=1 shows the traceback).", err=True)
            sys.exit(EXIT_PROBLEMS)
    finally:
        if _SIGNALLED:  # said once, and the exit code kept through the interpreter's shutdown
            name = signal.Signals(_SIGNALLED[0]).name
            try:
                click.echo(f"causalc: stopped by {name}; what it was writing is removed, nothing written", err=True)
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(128 + _SIGNALLED[0])
