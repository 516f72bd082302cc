"""What every command shares: exit codes, printing diagnostics, finding spec files, loading a spec or
the TensorFlow-backed modules with a clear message."""

from __future__ import annotations

import contextlib
import os


import click

from convert.core.diagnostics import Diagnostic, SpecError
from convert.core.errors import CausalcError, InternalError, OptionError
from convert.core.quiet import quiet_stderr as _quiet_stderr
from convert.cli.linting import NoSpecFiles, spec_files, use_color as _use_color
from convert.pipeline import check

EXIT_CLEAN, EXIT_PROBLEMS = 0, 1  # usage errors exit 2 through click.UsageError


class ProblemsFound(CausalcError):
    """Diagnostics were printed already; exit 1 without another message."""


class CannotWrite(CausalcError, OSError):
    """An output that could not be written (the OSError's reason, the path that failed)."""


def said(error: CausalcError) -> click.ClickException:
    """The one mapping of causalc's errors to the command line: the message (none for diagnostics already
    printed), the exit code the error carries."""
    if isinstance(error, OptionError):
        return click.BadParameter(str(error), param_hint=error.option) if error.option else click.UsageError(str(error))
    if isinstance(error, SpecError):
        _print_diagnostics(error.diagnostics)
    if isinstance(error, InternalError):
        message = (f"internal error: {type(error).__name__}: {error}\nPlease report this with the spec that caused "
                   "it (CAUSALC_DEBUG=1 shows the traceback).")
    else:
        message = "" if isinstance(error, (ProblemsFound, SpecError)) else str(error)
    exception = click.ClickException(message)
    exception.exit_code = error.exit_code
    if not message:
        exception.show = lambda file=None: None
    return exception


@contextlib.contextmanager
def failing(prefix: str = "", suffix: str = "", only: type = CausalcError, writing: str | None = None):
    """What a command knows about a failure inside: a CausalcError (of class `only`) gets `prefix` and
    `suffix` around its message; with `writing`, an OSError becomes "cannot write PATH: reason"."""
    try:
        yield
    except only as error:
        raise error.with_context(prefix, suffix)
    except OSError as error:
        if writing is None or isinstance(error, CausalcError):
            raise
        raise cannot_write(error, writing) from None


def _print_diagnostics(diagnostics: list[Diagnostic], fmt: str = "text", err: bool = True) -> None:
    from convert.frontend.formats import FORMATS

    stream = click.get_text_stream("stderr" if err else "stdout")
    out = FORMATS[fmt](diagnostics, color=_use_color(stream))
    if out or fmt in ("json", "sarif"):
        click.echo(out, err=err)


def _spec_files(paths: tuple[str, ...]) -> list[str]:
    try:
        return spec_files(paths)
    except NoSpecFiles as error:
        raise click.UsageError(str(error)) from None


WARMUP = click.option("--warmup", type=click.Choice(["causal", "exact"]), default="causal", show_default=True,
                      help="causal: every practice layer pads its own input (Keras's causal padding); exact: only "
                      "the input is padded, so warm-up steps equal the per-step model on zero-padded windows.")

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


def stream_files(out: str, batch: int) -> list[str]:
    """The file of each of `batch` streams: OUT with {i} replaced by the stream's number, or OUT alone for
    all of them (a .npy); a .wav holds one stream."""
    outs = [out.replace("{i}", str(i)) for i in range(batch)] if "{i}" in out else [out]
    if len(outs) == 1 and batch > 1 and out.lower().endswith(".wav"):
        raise click.UsageError(f"a .wav holds one stream: name one file per stream with {{i}} (e.g. "
                               f"{out[:-4]}-{{i}}.wav), or write all {batch} to one .npy")
    return outs


def cannot_write(error: OSError, where: str) -> CannotWrite:
    """An output that could not be written, naming the path that failed (the folder when none is known)."""
    path = error.filename
    if not path or os.path.basename(str(path)).startswith(".causalc-"):  # a staged file: name its target
        path = where
    return CannotWrite(f"cannot write {path}: {error.strerror or error}")


def require_keras(tensorflow: bool = False, initialise: bool = True) -> None:
    """Keras loaded (and its devices initialised), or a message saying what to install; TensorFlow's start-up
    chatter is not for users (CAUSALC_DEBUG=1 keeps it). Compiling and moving weights run on any Keras backend (KERAS_BACKEND);
    a command that streams, exports, trains or measures asks for `tensorflow` and is refused on another."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with contextlib.nullcontext() if os.environ.get("CAUSALC_DEBUG") else _quiet_stderr():
            from convert.runtime.api import keras  # Keras, with every causalc layer registered

            if initialise:  # the first use initialises the devices (and reports a missing GPU)
                keras.ops.zeros(1)
    except ImportError as error:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        if tensorflow or backend == "tensorflow":
            alternative = "" if tensorflow else ", or on JAX: pip install 'causalc[jax]' and set KERAS_BACKEND=jax"
            message = f"this command needs TensorFlow ({error.name} is missing): pip install 'causalc[tensorflow]'{alternative}"
        else:
            extra = {"jax": "pip install 'causalc[jax]'", "torch": "pip install 'causalc[torch]'"}
            message = f"this command needs Keras with its {backend} backend ({error.name} is missing): " + \
                extra.get(backend, "pip install 'causalc[tensorflow]' and unset KERAS_BACKEND")
        raise click.ClickException(message) from None
    backend = keras.backend.backend()
    if tensorflow and backend != "tensorflow":
        context = click.get_current_context(silent=True)
        command = context.command_path if context else "this command"
        raise click.ClickException(f"`{command}` runs on TensorFlow; Keras's backend here is {backend} (KERAS_BACKEND="
                                   f"{os.environ.get('KERAS_BACKEND', backend)}). Run it with KERAS_BACKEND=tensorflow "
                                   "(pip install 'causalc[tensorflow]'); compile, to-step, from-step, import and predict run on any backend")
