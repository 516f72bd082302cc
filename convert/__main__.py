"""`python -m convert` and the `causalc` script: `causalc --version` answers before the command line (click
and the commands) is imported, as click's version option would, and so does `causalc lint` for the
invocations CI makes (spec paths, `--format`, `--strict`, `--exit-zero`, spelt in full: `convert.cli.linting.quick_lint`),
which then pay neither click's import nor the other commands'. Everything else goes to `convert.cli.run`.
"""

from __future__ import annotations

import sys


def run() -> None:
    if sys.argv[1:] == ["--version"]:
        from convert import __version__

        print(f"causalc, version {__version__}")
        return
    if sys.argv[1:2] == ["lint"]:
        from convert.cli.linting import quick_lint

        code = quick_lint(sys.argv[2:])
        if code is not None:
            raise SystemExit(code)
    from convert.cli import run as command_line

    command_line()


if __name__ == "__main__":
    run()
