"""One option vocabulary across the commands (DESIGN §6): help text for every option, `-o` saying whether
it is a file or a folder, `--batch-size` as the batch option of every command (`--batch` an alias), one seed
range."""

import click
import pytest

from convert.cli import main

COMMANDS = sorted(main.commands.items())
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
