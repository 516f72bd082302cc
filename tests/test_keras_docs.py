"""Every page of the documentation run as written (`tests/docs.py` reads them): in a fresh folder holding
the bundled specs, each shell block is run by bash (`causalc` this checkout's, `python` this interpreter)
and each python block executed, in the page's order, so that a page is one journey; what a block says a
command prints (its `# ` lines) must be among what it printed, numbers aside (timings, losses). Install
and development lines are checked by tests/test_docs.py instead (the extras exist, the files exist)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import docs

NUMBER = re.compile(r"\d[\d,]*(\.\d+)?(e[-+]?\d+)?")
NOT_RUN = re.compile(r"^\s*(pip install|python3 -m venv|\.venv/bin/|python3 benchmarks/)")  # tests/test_docs.py checks them
NEEDS_JAX = "KERAS_BACKEND=jax"  # the JAX environment's page lines: run there (tests/test_backends.py), skipped here


def _shape(line: str) -> str:
    return NUMBER.sub("N", line.strip())


def _printed_matches(said: list[str], output: str) -> list[str]:
    """The lines a block says were printed that its output lacks (numbers compared as numbers' places,
    `...` standing for anything)."""
    got = [_shape(line) for line in output.splitlines()]
    missing = []
    for line in said:
        pattern = re.escape(_shape(line)).replace(re.escape("..."), ".*")
        if not any(re.fullmatch(pattern, g) for g in got):
            missing.append(line)
    return missing


def _folder(tmp_path) -> str:
    os.symlink(os.path.join(docs.ROOT, "specs"), tmp_path / "specs")
    shims = tmp_path / ".shims"
    shims.mkdir()
    (shims / "causalc").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m convert "$@"\n')
    (shims / "causalc").chmod(0o755)
    (shims / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # a script: a link loses the venv
    (shims / "python").chmod(0o755)
    return str(shims)


def _check_generated(block, tmp_path, env) -> None:
    """The README's "after" block is the source `causalc compile` writes: every line of it is there."""
    subprocess.run(["causalc", "compile", "specs/strided-stack.yaml", "-o", "generated"], cwd=tmp_path, env=env,
                   check=True, capture_output=True)
    source = (tmp_path / "generated" / "strided-stack.py").read_text()
    lines = [line.strip() for line in source.splitlines()]
    missing = [line for line in block.text.splitlines() if line.strip() and line.strip() not in lines]
    assert not missing, f"{block.where}: not in the generated source: {missing}"


def _run_page(page: str, tmp_path) -> None:
    shims = _folder(tmp_path)
    env = {**os.environ, "PATH": shims + os.pathsep + os.environ["PATH"], "PYTHONPATH": docs.ROOT,
           "SLURM_ARRAY_TASK_ID": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    namespace: dict = {}
    for block in docs.blocks(page):
        if block.lang == "sh":
            lines = [line for line in block.text.splitlines() if not NOT_RUN.match(line)]
            if not any(line.strip() and not line.startswith("#") for line in lines) or NEEDS_JAX in block.text:
                continue
            script = "set -e\n" + "\n".join(lines) + "\n"
            result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                                    timeout=900)
            assert result.returncode == 0, f"{block.where}: {result.stderr[-3000:]}"
            said = [line for command in docs.commands(block) for line in command.printed]
            missing = _printed_matches(said, result.stdout + result.stderr)
            assert not missing, f"{block.where}: said but not printed: {missing}\nprinted:\n{result.stdout}"
        elif block.lang == "python" and block.heading == "# causalc":  # the generated source compile writes
            _check_generated(block, tmp_path, env)
        elif block.lang == "python" and NEEDS_JAX not in block.text and 'os.environ["KERAS_BACKEND"] = "jax"' not in block.text:
            if "import torch" in block.text:
                continue  # the PyTorch page's block: tests/test_torch.py runs it in the PyTorch environment
            cwd = os.getcwd()
            os.chdir(tmp_path)
            try:
                exec(compile(block.text, block.where, "exec"), namespace)
            finally:
                os.chdir(cwd)


@pytest.mark.slow
@pytest.mark.parametrize("page", docs.PAGES)
def test_page_runs_as_written(page, tmp_path):
    _run_page(page, tmp_path)
