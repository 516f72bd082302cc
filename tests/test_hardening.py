"""What a careless user or an attacker does: files that are not files, absurd numbers, outputs in the
way, interrupted writes. Each test pins one finding of the hardening review (it failed before the fix)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from conftest import ROOT
from convert.cli import main
from convert.pipeline import check

GOOD = "input: {channels: 1, window: 4}\nlayers:\n  - {type: Flatten, name: f}\n  - {type: Dense, name: d, units: 1}\n"


def _codes(path) -> list[str]:
    return [d.code for d in check(str(path)).diagnostics]


def test_lint_never_waits_on_a_fifo_nor_reads_a_device(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    result = CliRunner().invoke(main, ["lint", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("not a regular file") == 2


def test_lint_of_a_folder_without_specs_is_an_error(tmp_path):
    (tmp_path / "x.yaml").mkdir()
    result = CliRunner().invoke(main, ["lint", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2 and "no spec files" in result.output


def test_a_huge_file_is_refused_unread(tmp_path, monkeypatch):
    from convert.frontend import source

    monkeypatch.setattr(source, "MAX_SPEC_BYTES", 64)
    path = tmp_path / "big.yaml"
    path.write_text(GOOD + "#" * 100)
    found = check(str(path)).diagnostics
    assert [d.code for d in found] == ["E100"] and "larger than" in found[0].message


def test_numbers_past_python_digits_are_located(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("window: 4", "window: " + "9" * 5000))
    found = check(str(path)).diagnostics
    assert [(d.code, d.span.line) for d in found] == [("E114", 1)]


@pytest.mark.parametrize("raw, value", [("1:30", "90"), ("1_0", "10")])
def test_yaml11_numbers_that_look_otherwise_are_flagged(tmp_path, raw, value):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("units: 1", f"units: {raw}"))
    found = [d for d in check(str(path)).diagnostics if d.code == "W304"]
    assert found and value in found[0].message


def test_control_characters_never_reach_the_terminal(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("units: 1", 'units: 1, "bad\\e[31m": 2'))  # YAML reads \e as ESC
    result = CliRunner().invoke(main, ["lint", str(path)])
    assert "E111" in result.output
    assert "\x1b" not in result.output and "bad\\x1b[31m" in result.output


def test_sarif_uris_are_percent_encoded(tmp_path):
    folder = tmp_path / "a b%"
    folder.mkdir()
    path = folder / "s.yaml"
    path.write_text(GOOD.replace("units: 1", "units: 0"))
    result = CliRunner().invoke(main, ["lint", str(path), "--format", "sarif"])
    uri = json.loads(result.output)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert "a%20b%25/s.yaml" in uri


def test_a_name_too_long_for_its_files_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: {'n' * 243}\n" + GOOD)
    assert _codes(path) == ["E114"]
    path.write_text(f"name: {'n' * 242}\n" + GOOD)
    assert _codes(path) == []


def test_e207_names_the_unused_layer_that_blocks_every_window(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("input: {channels: 1}\nlayers:\n  - {type: Conv1D, name: a, filters: 1, kernel_size: 3, strides: 2}\n"
                    "  - {type: Conv1D, name: unused, filters: 1, kernel_size: 2, strides: 2, inputs: input}\n"
                    "  - {type: Flatten, name: f, inputs: a}\n  - {type: Dense, name: d, units: 1}\n")
    found = check(str(path)).diagnostics
    e207 = next(d for d in found if d.code == "E207")
    assert "`unused`" in e207.message and "Delete `unused`" in e207.help


def test_a_long_window_search_gives_the_same_answer(tmp_path):
    """Branches whose alignments never agree, over grids whose common period passes the search limit: no
    window (E207); and a spec whose first fitting window lies past the first 256 tried is still found."""
    from convert.analysis import SCALAR_STEPS, fitting_windows
    from convert.pipeline import check as run

    lines = ["input: {channels: 1}", "layers:"]
    for branch, extra in (("c", 0), ("d", 1)):
        previous = "input"
        for i, stride in enumerate([2, 3, 5, 7, 11, 13, 17]):
            kernel = stride + (extra if i == 0 else 0)
            lines.append(f"  - {{type: Conv1D, name: {branch}{i}, filters: 1, kernel_size: {kernel}, strides: {stride}, "
                         f"inputs: {previous}}}")
            previous = f"{branch}{i}"
    lines.append("  - {type: Add, name: add, inputs: [c6, d6]}\n  - {type: Flatten, name: f}\n  - {type: Dense, name: o, units: 1}")
    path = tmp_path / "primes.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert "E207" in _codes(path)
    path.write_text("\n".join(line.replace("kernel_size: 3, strides: 2, inputs: input", "kernel_size: 2, strides: 2, "
                                           "inputs: input") for line in lines) + "\n")
    windows = fitting_windows(run(str(path)).analysis.spec, limit=3)
    from evaluator import fits, load

    spec = load(str(path))
    assert windows and all(fits(spec, w) for w in windows)
    assert windows[0] - 1 > SCALAR_STEPS or windows == [w for w in range(1, windows[-1] + 1) if fits(spec, w)][:3]


def test_outputs_are_committed_as_a_set(tmp_path, monkeypatch):
    """A failure while the outputs are moved into place puts back what was there."""
    from convert.backends import write

    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("old")
    real_rename = os.rename
    calls = []

    def failing(src, dst):  # the move of the second output into place fails, once
        calls.append(dst)
        if str(dst).endswith("b.txt") and ".causalc-" in str(src) and not str(src).endswith(".old"):
            raise OSError(28, "No space left on device", str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(write.os, "rename", failing)
    with pytest.raises(OSError):
        with write.atomic_files(str(tmp_path)) as new:
            for name in ("a.txt", "b.txt"):
                with open(new(str(tmp_path / name)), "w") as handle:
                    handle.write("new")
    monkeypatch.setattr(write.os, "rename", real_rename)
    assert (tmp_path / "a.txt").read_text() == "old" and (tmp_path / "b.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".causalc.lock", "a.txt", "b.txt"]


def test_a_folder_in_the_way_is_named_and_nothing_is_written(tmp_path):
    pytest.importorskip("keras")
    (tmp_path / "dense-four.map.json").mkdir()
    result = CliRunner().invoke(main, ["compile", os.path.join(ROOT, "specs", "dense-four.yaml"), "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert f"cannot write {tmp_path / 'dense-four.map.json'}: Is a directory" in result.output
    assert not (tmp_path / "dense-four.keras").exists()


def test_recompiling_keeps_a_read_only_output_read_only(tmp_path):
    pytest.importorskip("keras")
    spec = os.path.join(ROOT, "specs", "dense-four.yaml")
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    source = tmp_path / "dense-four.py"
    source.chmod(0o444)
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    assert stat.S_IMODE(source.stat().st_mode) == 0o444


def test_export_step_where_saved_model_is_a_file(tmp_path):
    pytest.importorskip("keras")
    spec = os.path.join(ROOT, "specs", "dense-four.yaml")
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "saved_model").write_text("a file")
    result = CliRunner().invoke(main, ["export-step", spec, str(tmp_path / "dense-four.keras"), "-o",
                                       str(tmp_path / "out"), "--no-tflite"])
    assert result.exit_code == 1 and "saved_model: Not a directory" in result.output
    assert (tmp_path / "out" / "saved_model").read_text() == "a file"


def test_bench_plot_into_a_missing_folder_fails_before_measuring(tmp_path):
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(main, ["bench", os.path.join(ROOT, "specs", "dense-four.yaml"), "--plot",
                                       str(tmp_path / "missing" / "speedup.png")])
    assert result.exit_code == 2 and "is not a folder causalc can write into" in result.output
