"""`python -m convert` and the `causalc` script: `causalc --version` answers before the command line (click
and the commands) is imported, as click's version option would; everything else goes to `convert.cli.run`."""

import sys


def run() -> None:
    if sys.argv[1:] == ["--version"]:
        from convert import __version__

        print(f"causalc, version {__version__}")
        return
    from convert.cli import run as command_line

    command_line()


if __name__ == "__main__":
    run()
