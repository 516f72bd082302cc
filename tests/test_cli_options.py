"""One option vocabulary across the commands (DESIGN §6): help text for every option, `-o` saying whether
it is a file or a folder, `--batch-size` as the batch option of every command (`--batch` an alias), one seed
range."""

import click
import pytest

from convert.cli import main

CONTEXT = click.Context(main)
COMMANDS = [(name, main.get_command(CONTEXT, name)) for name in main.list_commands(CONTEXT)]
OPTIONS = [(name, p) for name, command in COMMANDS for p in command.params if isinstance(p, click.Option)]


@pytest.mark.parametrize("name,option", OPTIONS, ids=[f"{n}:{p.name}" for n, p in OPTIONS])
def test_every_option_has_help(name, option):
    assert option.help and len(option.help) > 8, f"causalc {name} {option.opts[0]} has no help text"


@pytest.mark.parametrize("name,option", [(n, p) for n, p in OPTIONS if "-o" in p.opts])
def test_output_says_file_or_folder(name, option):
    assert option.help.startswith(("File to write", "Folder to write", "File or folder to write")), option.help
    kind = option.type
    if option.help.startswith("File to write"):
        assert kind.dir_okay is False or kind.file_okay, name
    elif option.help.startswith("Folder to write"):
        assert kind.file_okay is False, name


def test_batch_option_is_batch_size_with_batch_alias():
    batched = [(n, p) for n, p in OPTIONS if p.name in ("batch", "batch_size")]
    assert {n for n, _ in batched} >= {"generate", "train", "predict", "export-step", "run-step", "bench"}
    for name, option in batched:
        assert option.opts[0] == "--batch-size" and "--batch" in option.opts, (name, option.opts)


def test_one_seed_range():
    ranges = {(p.type.min, p.type.max) for _, p in OPTIONS if p.name == "seed"}
    assert ranges == {(0, 2**63 - 1)}


def test_help_shows_batch_size(capsys):
    from click.testing import CliRunner

    for name in ("generate", "bench"):
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "--batch-size" in result.output, result.output


def test_lazy_command_table_matches_the_commands():
    """`causalc --help` lists each command from convert.cli.COMMANDS without importing it: the table's line
    is the start of the command's own help, and every command is in it."""
    import re

    from convert.cli import COMMANDS as TABLE

    for name, command in COMMANDS:
        assert command is not None and command.name == name
        first = re.sub(r"\s+", " ", command.help.split("\n\n")[0])
        listed = TABLE[name][2].removesuffix(" ...").rstrip(".")
        assert first.startswith(listed), (name, first, listed)


def test_version_without_the_command_line_is_clicks_answer():
    """`causalc --version` answers before click is imported (start-up), in the words click's option says."""
    import subprocess
    import sys

    from click.testing import CliRunner

    fast = subprocess.run([sys.executable, "-c", "import sys; sys.argv = ['causalc', '--version']\n"
                           "from convert.__main__ import run; run(); print('click' in sys.modules)"],
                          capture_output=True, text=True, check=True).stdout
    assert fast.splitlines() == [CliRunner().invoke(main, ["--version"]).output.strip(), "False"]
