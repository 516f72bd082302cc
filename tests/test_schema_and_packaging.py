"""`causalc schema` validates the bundled specs; lint, explain and schema run without TensorFlow, and
compile without it says what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import BLOCK_TENSORFLOW, ROOT, SPECS, spec_id

jsonschema = pytest.importorskip("jsonschema")

# The CLI with `import tensorflow` and `import keras` failing, as on a machine where they are not installed.
BLOCK = BLOCK_TENSORFLOW + """
sys.argv[0] = 'causalc'
from convert.cli import run
run()
"""


def _causalc_without_tensorflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


@pytest.fixture(scope="module")
def schema() -> dict:
    result = _causalc_without_tensorflow("schema")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    jsonschema.Draft7Validator.check_schema(data)
    return data


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_bundled_specs_validate_against_the_schema(schema, path):
    with open(path) as handle:
        jsonschema.Draft7Validator(schema).validate(yaml.safe_load(handle))


@pytest.mark.parametrize("bad", [{"type": "Conv1D", "filters": 1}, {"type": "Conv1D", "filters": 1, "kernel_size": 2,
                                                                     "padding": "same"},
                                 {"type": "Dense", "units": 1, "stride": 2}, {"type": "Conv2D"}])
def test_schema_rejects_what_lint_rejects(schema, bad):
    spec = {"input": {"channels": 1}, "layers": [bad]}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(spec))


def test_schema_documents_fields_and_defaults(schema):
    conv = schema["definitions"]["Conv1D"]["properties"]
    assert conv["strides"]["default"] == 1 and conv["activation"]["default"] == "linear"
    assert all(p.get("description") for p in conv.values())
    assert schema["definitions"]["MaxPooling1D"]["properties"]["type"]["enum"] == ["MaxPooling1D", "MaxPool1D"]


@pytest.mark.parametrize("command", [["lint", "specs"], ["explain", "specs/wavenet.yaml"], ["schema"]])
def test_tools_run_without_tensorflow(command):
    result = _causalc_without_tensorflow(*command)
    assert result.returncode == 0, result.stderr


def test_compile_without_tensorflow_says_what_to_install(tmp_path):
    result = _causalc_without_tensorflow("compile", "specs/dense-four.yaml", "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "pip install 'causalc[tensorflow]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_pre_commit_hook_needs_no_tensorflow():
    with open(os.path.join(ROOT, ".pre-commit-hooks.yaml")) as handle:
        (hook,) = yaml.safe_load(handle)
    assert hook["id"] == "causalc-lint" and hook["entry"] == "causalc lint" and hook["language"] == "python"
    with open(os.path.join(ROOT, "pyproject.toml")) as handle:
        dependencies = handle.read().split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "tensorflow" not in dependencies.lower()  # TensorFlow is the `tensorflow` extra


def test_the_wheel_holds_every_subpackage(tmp_path):
    """An installed causalc (not this checkout) must have all of convert/: a wheel built from the project
    holds every module of the package."""
    import zipfile

    import shutil

    source = tmp_path / "source"  # a clean copy: a stale build/ in the checkout must not fill the gaps
    shutil.copytree(os.path.join(ROOT, "convert"), source / "convert", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("causalc-*.whl")
    packaged = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    modules = {os.path.relpath(os.path.join(folder, name), ROOT).replace(os.sep, "/")
               for folder, _, names in os.walk(os.path.join(ROOT, "convert")) for name in names if name.endswith(".py")}
    assert modules - packaged == set()
    # the build backend builds elsewhere: build/ is the folder `causalc compile` writes to by default
    assert not (source / "build").exists(), sorted(os.listdir(source / "build"))
