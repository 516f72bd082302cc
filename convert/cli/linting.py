"""`causalc lint`'s work, without click: finding the spec files, checking them (in forked workers where that
pays), printing the report and choosing the exit code. The click command (`convert.cli.checking.lint`) runs
it, and so does `quick_lint`, which `convert.__main__` calls for the invocations CI makes (spec paths,
`--format`, `--strict`, `--exit-zero`, spelt in full) so that they pay neither click's import nor the other
commands'. Anything else goes to click, which parses it and says what is wrong."""

from __future__ import annotations

import os
import sys

from convert.core.errors import CausalcError

FORMAT_NAMES = ("text", "json", "github", "sarif")
SPEC_SUFFIXES = (".yaml", ".yml")


class NoSpecFiles(CausalcError):
    """A path to lint that is not there, or a folder without specs (a usage error on the command line)."""


def spec_files(paths) -> list[str]:
    """The files to check: each file path as given, each folder's *.yaml and *.yml (hidden folders aside),
    sorted."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(root, n) for n in sorted(names) if n.endswith(SPEC_SUFFIXES)]
            if not found:
                raise NoSpecFiles(f"no spec files (*.yaml, *.yml) in the folder {path}")
            files += found
        elif os.path.exists(path):
            files.append(path)
        else:
            raise NoSpecFiles(f"no such file or folder: {path}")
    return files


def use_color(stream) -> bool:
    """Colour on a terminal, plain when piped; NO_COLOR (any value) turns it off."""
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def lint_report(files: list[str], fmt: str, strict: bool, exit_zero: bool, echo, stdout) -> int:
    """Check `files`, print the diagnostics in `fmt` to stdout (`echo(text, err=False)`; `stdout` decides
    the colour) and the summary to stderr; returns the exit code: 1 on errors (on warnings too when
    `strict`), 0 with `exit_zero`."""
    from convert.frontend.formats import FORMATS

    diagnostics = [d for found in checked(files) for d in found]
    out = FORMATS[fmt](diagnostics, color=use_color(stdout))
    if out or fmt in ("json", "sarif"):
        echo(out, err=False)
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = sum(d.severity == "warning" for d in diagnostics)
    notes = len(diagnostics) - errors - warnings
    if fmt == "text":
        summary = f"{len(files)} spec(s) checked: {errors} error(s), {warnings} warning(s)" + \
            (f", {notes} note(s)" if notes else "")
        echo(summary if diagnostics else f"{len(files)} spec(s) checked: all clean", err=True)
    return 1 if (errors or (strict and warnings)) and not exit_zero else 0


def parse(args: list[str]) -> tuple[list[str], str, bool, bool] | None:
    """lint's arguments (paths, format, strict, exit_zero) when they are only paths and the options CI
    uses, spelt in full; None for anything click should parse."""
    paths, fmt, strict, exit_zero, options, i = [], "text", False, False, True, 0
    while i < len(args):
        arg = args[i]
        if options and arg == "--":
            options = False
        elif options and arg.startswith("-") and arg != "-":
            if arg == "--strict":
                strict = True
            elif arg == "--exit-zero":
                exit_zero = True
            elif arg == "--format" and i + 1 < len(args) and args[i + 1] in FORMAT_NAMES:
                fmt, i = args[i + 1], i + 1
            elif arg.startswith("--format=") and arg[len("--format="):] in FORMAT_NAMES:
                fmt = arg[len("--format="):]
            else:
                return None
        else:
            paths.append(arg)
        i += 1
    return (paths, fmt, strict, exit_zero) if paths else None


def _echo(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def quick_lint(args: list[str]) -> int | None:
    """Run `causalc lint ARGS` without click; None (nothing printed) when click should run it instead."""
    parsed = parse(args)
    if parsed is None:
        return None
    paths, fmt, strict, exit_zero = parsed
    try:
        files = spec_files(paths)
    except NoSpecFiles:
        return None  # click says it, with the usage line
    outputs: list[tuple[str, bool]] = []
    try:  # printed once every spec is checked: a check that raises leaves nothing half-said
        code = lint_report(files, fmt, strict, exit_zero, lambda text, err=False: outputs.append((text, err)),
                           sys.stdout)
    except KeyboardInterrupt:
        return 130
    except Exception:  # said by click's command, which maps every error to its message
        return None
    for text, err in outputs:
        _echo(text, err)
    return code


MIN_FILES_PER_WORKER = 4  # fewer, and a worker costs more than it saves


def jobs_for(files: int) -> int:
    """Processes to check `files` specs with: one per core, each with a few files, where the process can
    fork safely (a POSIX system, no thread besides the main one: a fork copies only the calling thread,
    and a lock another thread holds would stay locked in the copy)."""
    threading = sys.modules.get("threading")
    if not hasattr(os, "fork") or (threading is not None and threading.active_count() > 1):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, files // MIN_FILES_PER_WORKER))


def checked(files: list[str], jobs: int | None = None) -> list[list]:
    """Each file's diagnostics, in the order of `files`. With `jobs` > 1 (by default `jobs_for`), forked
    workers check every jobs-th file each and send their diagnostics back; a worker that fails leaves its
    files to this process, which checks them again and so raises where it would alone."""
    import marshal  # built in (the import system's): pickle's import would cost more than sending takes

    from convert.core.diagnostics import Diagnostic
    from convert.core.located import Span
    from convert.pipeline import check

    jobs = jobs_for(len(files)) if jobs is None else max(1, min(jobs, len(files)))
    workers = []
    for first in range(1, jobs):
        read, write = os.pipe()
        sys.stdout.flush(), sys.stderr.flush()  # nothing buffered is written twice
        pid = os.fork()
        if pid == 0:  # the worker: its share, marshalled down the pipe, then gone without running any exit code
            os.close(read)
            try:
                data = marshal.dumps([[(d.code, tuple(d.span), d.message, d.help) for d in check(path).diagnostics]
                                      for path in files[first::jobs]])
            except BaseException:  # noqa: BLE001 - the parent checks these files again and says it
                data = b""
            with os.fdopen(write, "wb") as out:
                out.write(data)
            os._exit(0)
        os.close(write)
        workers.append((first, pid, read))
    found: list = [None] * len(files)
    found[::jobs] = [check(path).diagnostics for path in files[::jobs]]
    for first, pid, read in workers:
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        found[first::jobs] = ([[Diagnostic(code, Span(*span), message, help) for code, span, message, help in sent]
                               for sent in marshal.loads(data)] if data
                              else [check(path).diagnostics for path in files[first::jobs]])
    return found
