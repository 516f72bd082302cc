"""Hostile and careless spec files: files that are not files, absurd numbers and names, sizes past the
limits, output that must not reach a terminal raw. Each test pins one finding of a hardening review (it
failed before the fix). No TensorFlow needed."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

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
    from convert.analysis.shapes import SCALAR_STEPS, fitting_windows
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


def test_a_spec_asking_for_too_many_weights_is_refused_before_allocation(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("input: {channels: 1, window: 100000}\nlayers:\n  - {type: Conv1D, name: c, filters: 4096, "
                    "kernel_size: 8}\n  - {type: Flatten, name: f}\n  - {type: Dense, name: d, units: 4096}\n")
    found = check(str(path)).diagnostics
    assert [(d.code, d.span.line) for d in found] == [("E211", 5)]
    result = CliRunner().invoke(main, ["--max-parameters", str(10**13), "lint", str(path)])
    assert result.exit_code == 0


def test_a_spec_with_more_values_than_read_says_so_without_blaming_aliases(tmp_path, monkeypatch):
    from convert.frontend import source

    monkeypatch.setattr(source, "MAX_NODES", 50)
    path = tmp_path / "s.yaml"
    path.write_text("input: {channels: 1}\nlayers:\n" + "  - {type: Flatten}\n" * 30)
    found = check(str(path)).diagnostics
    assert [d.code for d in found] == ["E103"] and "aliases" not in found[0].help


def test_a_practice_model_too_large_per_step_is_refused(tmp_path, monkeypatch):
    """E212: the values per time step (per edge slot with exact 'same' padding), and the plan of a huge
    'same' kernel, are bounded before anything is planned or built."""
    from convert.core import limits

    path = tmp_path / "s.yaml"
    path.write_text("same_padding: exact\ninput: {channels: 1, window: 60000}\nlayers:\n"
                    "  - {type: Conv1D, name: c, filters: 4, kernel_size: 65535, padding: same}\n"
                    "  - {type: GlobalAveragePooling1D, name: g}\n")
    found = check(str(path)).diagnostics
    assert [d.code for d in found] == ["E212"] and "taps planned" in found[0].message  # 400 x 51: 20,400 taps
    path.write_text("same_padding: exact\ninput: {channels: 8, window: 400}\nlayers:\n"
                    "  - {type: Conv1D, name: c, filters: 1024, kernel_size: 51, padding: same}\n"
                    "  - {type: GlobalAveragePooling1D, name: g}\n")
    assert check(str(path)).diagnostics == []
    monkeypatch.setattr(limits, "MAX_STEP_VALUES", 50_000)  # (1 + 50 slots) x 1,024 channels: 52,224 values
    found = check(str(path)).diagnostics
    assert [(d.code, d.span.line) for d in found] == [("E212", 4)] and "values per time step" in found[0].message
