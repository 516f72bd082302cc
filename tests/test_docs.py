"""The README and docs/ checked without TensorFlow: the README's size and walk-through, every link, every
YAML block (a spec lints clean), every install line (its extras exist), every `causalc` line (the command
and its options parse), every development line (its files and markers exist), every python block (it
compiles), and what the lint and explain lines say they print. tests/test_keras_docs.py runs the pages."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib

import click
import pytest
import yaml

import docs
from convert.cli import main
from convert.frontend.source import load_yaml  # noqa: F401  (the safe loader the specs use)
from convert.pipeline import check_text

BLOCKS = docs.every_block()
WALK = ("lint", "explain", "compile", "train", "generate", "predict", "export-step", "run-step")


def _lines(lang: str) -> list[tuple[docs.Block, str]]:
    out = []
    for block in BLOCKS:
        if block.lang != lang:
            continue
        joined = block.text.replace("\\\n", " ")
        for line in joined.splitlines():
            if line.strip() and not line.startswith("#"):
                out.append((block, line.split("  #")[0].strip()))
    return out


SHELL = _lines("sh")


def test_readme_is_short_and_walks_through_the_command_line():
    readme = docs.text("README.md")
    assert len(readme.encode("utf-8")) <= 20_000
    quick = re.search(r"<!-- quickstart -->\n```sh\n(.*?)```\n<!-- /quickstart -->", readme, re.S).group(1)
    assert len(quick.strip().splitlines()) == 2
    walked = [line.split()[1] for block, line in SHELL if block.page == "README.md" and line.startswith("causalc ")]
    assert list(dict.fromkeys(walked)) == list(WALK), walked
    for page in ("commands", "spec", "diagnostics", "streaming", "deployment", "training", "performance",
                 "architecture", "predict", "import"):
        assert f"(docs/{page}.md" in readme, page


def _anchors(page: str) -> set[str]:
    out = set()
    for line in docs.text(page).splitlines():
        if re.match(r"^#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


@pytest.mark.parametrize("page", docs.PAGES)
def test_links_resolve(page):
    text = re.sub(r"```.*?```", "", docs.text(page), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"https?:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(docs.ROOT, os.path.dirname(page), path)) if path else \
            os.path.join(docs.ROOT, page)
        assert os.path.exists(resolved), f"{page}: {target}"
        if anchor and resolved.endswith(".md"):
            assert anchor in _anchors(os.path.relpath(resolved, docs.ROOT)), f"{page}: {target}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "yaml"], ids=lambda b: b.where)
def test_yaml_blocks_load_and_specs_lint_clean(block):
    data = yaml.safe_load(block.text)
    if isinstance(data, dict) and "layers" in data and "..." not in block.text:
        checked = check_text(block.text, block.where)
        assert not [d for d in checked.diagnostics if d.is_error], checked.diagnostics


def test_install_lines_name_extras_that_exist():
    with open(os.path.join(docs.ROOT, "pyproject.toml"), "rb") as handle:
        extras = set(tomllib.load(handle)["project"]["optional-dependencies"])
    said = 0
    for block in BLOCKS:
        for found in re.findall(r"pip install ['\"]?(?:\.|causalc)\[([a-z0-9,-]+)\]", block.text + block.before):
            said += 1
            assert set(found.split(",")) <= extras, (block.where, found)
    assert said >= 5


@pytest.mark.parametrize("block,line", [(b, line) for b, line in SHELL if re.match(r"(\w+=\S+ )*causalc ", line)],
                         ids=lambda value: value.where if isinstance(value, docs.Block) else "")
def test_causalc_lines_parse(block, line):
    """Every `causalc` line of the docs names a command and options that exist, with the arguments they take."""
    words = shlex.split(line.split(" && ")[0].rstrip("&").strip())
    while "=" in words[0]:
        words.pop(0)
    command = main.get_command(click.Context(main), words[1])
    assert command is not None, (block.where, line)
    args = [w for w in words[2:] if w not in ("|", ">")]
    if ">" in words:
        args = words[2:words.index(">")]
    try:
        command.make_context(words[1], args)
    except click.exceptions.Exit:
        pass
    except click.UsageError as error:
        pytest.fail(f"{block.where}: {line}: {error}")


def test_development_lines_name_what_exists():
    for block, line in SHELL:
        words = shlex.split(line)
        if words[0] in (".venv/bin/python", "python3", "python") and len(words) > 1 and words[1].endswith(".py"):
            assert os.path.exists(os.path.join(docs.ROOT, words[1])), (block.where, line)
        if "-m" in words and "pytest" in words and "-m" in words[words.index("pytest"):]:
            marker = words[words.index("pytest"):][words[words.index("pytest"):].index("-m") + 1]
            assert marker == "slow", (block.where, line)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "python"], ids=lambda b: b.where)
def test_python_blocks_compile(block):
    compile(block.text, block.where, "exec")


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "sh" and re.search(r"^causalc (lint|explain) ",
                                                                                    b.text, re.M)],
                         ids=lambda b: b.where)
def test_lint_and_explain_print_what_the_docs_say(block):
    """Lint and explain are exact: the lines the docs show after them are what they print, character for
    character (the other commands are run by tests/test_keras_docs.py, numbers aside)."""
    for command in docs.commands(block):
        if not re.match(r"causalc (lint|explain) ", command.line):
            continue
        result = subprocess.run([sys.executable, "-m", "convert", *shlex.split(command.line)[1:]], cwd=docs.ROOT,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        printed = (result.stdout + result.stderr).splitlines()
        assert [line.rstrip() for line in command.printed] == [line.rstrip() for line in printed[:len(command.printed)]] \
            or all(line in printed for line in command.printed), (block.where, printed)
