"""The command line without TensorFlow: lint and explain, their formats and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from conftest import ROOT, SPECS
from convert.cli import main

BAD = "input: {channels: 1, window: 9}\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 2, padding: same}\n"


@pytest.fixture
def runner():
    return CliRunner()


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_lint_bundled_specs_is_clean(runner):
    result = runner.invoke(main, ["lint", os.path.join(ROOT, "specs")])
    assert result.exit_code == 0, result.output
    assert f"{len(SPECS)} spec(s) checked: all clean" in result.output


def test_lint_text_format(runner, tmp_path):
    path = write(tmp_path, "bad.yaml", BAD)
    result = runner.invoke(main, ["lint", path])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{path}:3:57: error E200 `padding` must be 'valid' in a per-step spec; received 'same'"
    assert lines[1].startswith(" 3 |   - {type: Conv1D")
    assert lines[2] == "   | " + " " * 56 + "^"
    assert lines[3].startswith("  help: Remove `padding` and enlarge the window, or add `same_padding: exact`")


def test_lint_json_format(runner, tmp_path):
    path = write(tmp_path, "bad.yaml", BAD)
    result = runner.invoke(main, ["lint", "--format", "json", path])
    assert result.exit_code == 1
    (item,) = json.loads(result.stdout)
    assert set(item) == {"path", "line", "column", "severity", "code", "message", "help"}
    assert (item["path"], item["line"], item["column"], item["severity"], item["code"]) == (path, 3, 57, "error", "E200")


def test_lint_folder_recurses_and_reports_every_file(runner, tmp_path):
    write(tmp_path, "a.yaml", BAD)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "b.yml", BAD)
    write(tmp_path, "notes.txt", "not a spec")
    result = runner.invoke(main, ["lint", "--format", "json", str(tmp_path)])
    assert sorted(os.path.basename(d["path"]) for d in json.loads(result.stdout)) == ["a.yaml", "b.yml"]


def test_warnings_fail_only_with_strict(runner, tmp_path):
    text = ("input: {channels: 1, window: 8}\nlayers:\n  - {type: Conv1D, name: a, filters: 1, kernel_size: 8}\n"
            "  - {type: Conv1D, name: b, inputs: input, filters: 1, kernel_size: 8}\noutput: a\n")
    path = write(tmp_path, "warn.yaml", text)
    assert runner.invoke(main, ["lint", path]).exit_code == 0
    assert runner.invoke(main, ["lint", "--strict", path]).exit_code == 1


def test_usage_errors_exit_2(runner, tmp_path):
    assert runner.invoke(main, ["lint", str(tmp_path / "missing.yaml")]).exit_code == 2
    assert runner.invoke(main, ["lint"]).exit_code == 2
    assert runner.invoke(main, ["lint", "--format", "xml", "specs"]).exit_code == 2


def test_explain_table_and_json(runner):
    wavenet = os.path.join(ROOT, "specs", "wavenet.yaml")
    result = runner.invoke(main, ["explain", wavenet])
    assert result.exit_code == 0, result.output
    assert "filter10" in result.output and "receptive field 1,024" in result.output
    data = json.loads(runner.invoke(main, ["explain", "--format", "json", wavenet]).stdout)
    assert data["window"] == 1024 and data["receptive_field"] == 1024
    row = next(r for r in data["layers"] if r["name"] == "filter10")
    assert (row["practice"], row["kernel"], row["stride"], row["dilation"], row["left_padding"]) == \
        ("Conv1D", 2, 2, 512, 512)
    assert data["macs_per_output_step"] > 0 and data["params"] > 0


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(os.path.join(ROOT, "specs")) if f.endswith(".yaml")))
def test_explain_receptive_field_rows_agree_with_summary(runner, name):
    """The output layer's row gives the summary's receptive field and no row exceeds it (exact 'same' specs
    included: their practice layers' causal spans count the centred kernels' delay, which reads nothing)."""
    data = json.loads(runner.invoke(main, ["explain", "--format", "json", os.path.join(ROOT, "specs", name)]).stdout)
    rows = {row["name"]: row["receptive_field"] for row in data["layers"] if row["practice"] != "(unused)"}
    spec = yaml.safe_load(open(os.path.join(ROOT, "specs", name)))
    output = spec.get("output", spec["layers"][-1]["name"])
    assert rows[output] == data["receptive_field"], (rows[output], data["receptive_field"])
    assert max(rows.values()) <= data["receptive_field"]


def test_explain_rejects_bad_spec(runner, tmp_path):
    result = runner.invoke(main, ["explain", write(tmp_path, "bad.yaml", BAD)])
    assert result.exit_code == 1 and "E200" in result.output


def test_compile_bad_spec_writes_nothing(runner, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(main, ["compile", write(tmp_path, "bad.yaml", BAD), "-o", str(out)])
    assert result.exit_code == 1 and "E200" in result.output
    assert not out.exists()


def _run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


@pytest.mark.parametrize("command", [["lint", "specs"], ["explain", "specs/wavenet.yaml"],
                                     ["explain", "--format", "json", "specs"]])
def test_lint_and_explain_never_import_tensorflow(command):
    code = ("import sys\nfrom convert.cli import main\n"
            f"try:\n    main({command!r}, prog_name='causalc')\nexcept SystemExit as e:\n    code = e.code\n"
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules)\n"
            "print('HEAVY', heavy, file=sys.stderr)\nsys.exit(code)")
    result = _run("-c", code)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stderr


@pytest.mark.parametrize("text", ["input: !!python/object/apply:os.system ['echo hi']\n", "input: [\n",
                                  "input: {channels: 1, window: 1000000000000}\nlayers: [{type: Dense, units: 1}]\n",
                                  "layers: [{type: Conv1D, filters: 1, kernel_size: 1, dilation_rate: 4294967296}]\n"])
def test_bad_input_never_gives_a_traceback(tmp_path, text):
    path = write(tmp_path, "bad.yaml", text)
    for command in (["lint", path], ["explain", path], ["compile", path, "-o", str(tmp_path / "out")]):
        result = _run("-m", "convert", *command)
        assert result.returncode == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr and f"{path}:" in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_github_annotations_are_escaped(runner, tmp_path):
    path = write(tmp_path, "a,b:c.yaml", BAD)
    result = runner.invoke(main, ["lint", "--format", "github", path])
    assert result.exit_code == 1
    (line,) = result.stdout.splitlines()
    escaped = path.replace(",", "%2C").replace(":", "%3A")
    assert line.startswith(f"::error file={escaped},line=3,col=57,title=E200 padding-same::`padding` must be")
    assert "%0Ahelp: Remove" in line and "\n" not in line


def test_sarif_has_rules_and_regions(runner, tmp_path):
    from convert.core.codes import RULES

    path = write(tmp_path, "bad.yaml", BAD)
    log = json.loads(runner.invoke(main, ["lint", "--format", "sarif", path]).stdout)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(RULES)
    (result,) = run["results"]
    assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == "E200"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (3, 57)


def test_exit_zero_and_explain_code(runner, tmp_path):
    path = write(tmp_path, "bad.yaml", BAD)
    assert runner.invoke(main, ["lint", "--exit-zero", path]).exit_code == 0
    result = runner.invoke(main, ["lint", "--explain", "e200"])
    assert result.exit_code == 0 and "padding-same" in result.output and "Example fix" in result.output
    assert runner.invoke(main, ["lint", "--explain", "E999"]).exit_code == 2


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path, monkeypatch):
    from convert.cli import _use_color
    from convert.frontend.formats import text
    from convert.pipeline import check

    diagnostics = check(write(tmp_path, "bad.yaml", BAD)).diagnostics
    assert "\033[" in text(diagnostics, color=True) and "\033[" not in text(diagnostics, color=False)

    class Terminal:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _use_color(Terminal()) and not _use_color(open(os.devnull, "w"))
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _use_color(Terminal())


def test_progress_off_a_terminal_is_a_line_now_and_then(monkeypatch, capsys):
    """Not on a terminal (CI logs, nohup): a plain line every EVERY seconds with the latest note, no bar, no
    control characters, nothing once done; on rank > 0 of a cluster, nothing at all."""
    from convert.cli import progress

    monkeypatch.setattr(progress, "EVERY", 0.0)
    with progress.Progress(4, "training") as shown:
        for step in range(4):
            shown.advance(1, f"loss {step}")
    err = capsys.readouterr().err
    assert err.splitlines() == ["training: 1 of 4 steps (25%), loss 0", "training: 2 of 4 steps (50%), loss 1",
                                "training: 3 of 4 steps (75%), loss 2"], err
    monkeypatch.setattr(progress, "EVERY", 3600.0)
    with progress.Progress(4, "generating", "samples") as shown:
        shown.advance(4)
    with progress.Progress(4, "training", shown=False) as shown:
        monkeypatch.setattr(progress, "EVERY", 0.0)
        shown.advance(1)
    assert capsys.readouterr().err == ""
