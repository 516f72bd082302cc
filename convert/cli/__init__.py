"""The command line: parses options, runs the pipeline and maps results to output and exit codes.

`checking` holds the TensorFlow-free commands (lint, explain, schema, import, draw), `models` those that
build and run Keras models, `export`, `train`, `predict` and `deploy` (run-step) one journey each; `common`
what they share, `group` the click group and the entry point, `linting` lint's work without click. A
command's module is imported when that command runs (`COMMANDS`), and the package itself imports nothing:
`main`, `run` and `COMMANDS` load `group` (and click) when they are asked for, so that `causalc --version`
and CI's `causalc lint` do not pay for click or the other commands.
"""

_GROUP = {"main", "run", "COMMANDS", "EXIT_PROBLEMS"}
_COMMON = {"_use_color", "said", "CannotWrite"}  # where they were before the commands became lazy


def __getattr__(name: str):
    if name in _GROUP:
        from convert.cli import group

        return getattr(group, name)
    if name in _COMMON:
        from convert.cli import common

        return getattr(common, name)
    raise AttributeError(f"module 'convert.cli' has no attribute {name!r}")
