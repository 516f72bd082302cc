"""`causalc lint` without click (`convert.__main__`'s quick path) and with forked workers
(`convert.cli.linting.checked`): the same output, exit code and diagnostics as the click command and a
single process. No TensorFlow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from convert.cli.linting import parse, quick_lint

CLEAN = "input: {channels: 1}\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 2}\n"
WARNING = "input: {channels: 1}\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 1, strides: 3}\n"
ERRORS = ("input: {channels: 1}\nlayers:\n  - {type: Conv1DD, filters: 1, kernel_size: 2}\n"
          "  - {type: Conv1D, filters: 1, kernel_size: 2, padding: same}\n")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("lint")
    for name, text in (("a-clean.yaml", CLEAN), ("b-warning.yaml", WARNING), ("c-errors.yaml", ERRORS)):
        (root / name).write_text(text)
    (root / "empty").mkdir()
    return root


def _causalc(args: list[str], quick: bool) -> subprocess.CompletedProcess:
    """`causalc ARGS` through the script's entry point (quick) or straight into the click command line."""
    entry = "from convert.__main__ import run" if quick else "from convert.cli import run"
    code = f"import sys\n{entry}\nsys.argv = ['causalc', *sys.argv[1:]]\nrun()"
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


@pytest.mark.parametrize("args", [
    ["{d}"], ["{d}", "--format", "json"], ["--strict", "{d}/b-warning.yaml"], ["--format=github", "{d}"],
    ["--exit-zero", "{d}/c-errors.yaml"], ["--format", "sarif", "{d}/c-errors.yaml", "{d}/a-clean.yaml"],
    ["{d}/a-clean.yaml", "--", "{d}/b-warning.yaml"], ["specs", "tests/specs", "{d}"],
    ["{d}/missing.yaml"], ["{d}/empty"], ["--format", "xml", "{d}"], ["--explain", "E113"], [],
])
def test_the_quick_path_says_what_the_click_command_says(folder, args):
    args = [a.replace("{d}", str(folder)) for a in args]
    quick, click = _causalc(["lint", *args], quick=True), _causalc(["lint", *args], quick=False)
    assert (quick.returncode, quick.stdout, quick.stderr) == (click.returncode, click.stdout, click.stderr)


def test_the_quick_path_runs_what_ci_runs_and_leaves_the_rest_to_click(folder, capsys):
    assert parse(["a.yaml", "--format", "json", "--strict", "--exit-zero"]) == (["a.yaml"], "json", True, True)
    assert parse(["--format=sarif", "--", "--strict", "-"]) == (["--strict", "-"], "sarif", False, False)
    for args in (["--help"], ["a.yaml", "-h"], ["--explain", "E100"], ["a.yaml", "--format"], ["a.yaml", "--format",
                 "xml"], ["--format=", "a.yaml"], ["a.yaml", "--stric"], []):
        assert parse(args) is None, args
    for args in ([str(folder / "missing.yaml")], [str(folder / "empty")], ["--help"]):
        assert quick_lint(args) is None
    assert capsys.readouterr() == ("", "")  # handed to click without a word


def test_the_quick_path_imports_neither_click_nor_the_other_commands():
    code = ("import sys\nfrom convert.__main__ import run\nsys.argv = ['causalc', 'lint', 'specs']\ntry:\n    run()\n"
            "except SystemExit as end:\n    print(end.code, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('click', 'numpy', 'keras', 'tensorflow') or m.startswith('convert.cli.') and m != 'convert.cli.linting'), "
            "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stderr.splitlines()[-1] == "0 []", done.stderr


WORKERS = """
import os, sys
import convert.pipeline
from convert.cli.linting import checked, spec_files

files = spec_files(sys.argv[1:])
alone = checked(files, jobs=1)
assert len(alone) == len(files) and any(alone), alone
for jobs in (2, 3, len(files) + 5):
    assert checked(files, jobs=jobs) == alone, jobs
parent, check = os.getpid(), convert.pipeline.check

def failing_in_workers(path):  # a worker that fails leaves its files to the parent, which says what it meets
    if os.getpid() != parent:
        raise MemoryError
    return check(path)

convert.pipeline.check = failing_in_workers
assert checked(files, jobs=3) == alone
print("ok", len(files))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="workers are forked")
def test_forked_workers_find_what_one_process_finds(folder, tmp_path):
    for i in range(5):
        shutil.copy(folder / "c-errors.yaml", tmp_path / f"errors-{i}.yaml")
    done = subprocess.run([sys.executable, "-c", WORKERS, "specs", "tests/specs", str(folder), str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr
