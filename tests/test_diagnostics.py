"""One invalid spec per diagnostic code: the code, the line and the column it points at. No TensorFlow."""

from __future__ import annotations

import textwrap

import pytest

from convert.core.codes import RULES
from convert.pipeline import check

OK_HEAD = "input: {channels: 1, window: 8}\nlayers:\n"

# (code, spec text, line, text the column points at: None where any column on the line will do)
CASES = [
    ("E100", "input: {channels: 1\nlayers: [", 2, None),
    ('W300', 'inputs:\n  - {name: a, channels: 1}\n  - {name: m, channels: 2, hop: 4}\nlayers:\n  - {type: Dense, inputs: a, units: 1}\n', 3, '{name: m'),
    ('E111', 'input: {channels: 1}\ninputs:\n  - {name: a, channels: 1}\nlayers:\n  - {type: Dense, units: 1}\n', 2, 'inputs'),
    ('E110', 'inputs: {name: a, channels: 1}\nlayers:\n  - {type: Dense, units: 1}\n', 1, '{name'),
    ('E112', 'inputs:\n  - {name: a}\nlayers:\n  - {type: Dense, units: 1}\n', 2, '{name'),
    ('E112', 'inputs:\n  - {channels: 1}\nlayers:\n  - {type: Dense, units: 1}\n', 2, '{channels'),
    ('E114', 'inputs:\n  - {name: a, channels: 2, categories: 4}\nlayers:\n  - {type: Dense, units: 1}\n', 2, '2, categories'),
    ('E114', 'inputs:\n  - {name: a, channels: 1}\n  - {name: b, channels: 1, hop: 4, global: true}\nlayers:\n  - {type: Dense, units: 1}\n', 3, '4, global'),
    ('E114', 'inputs:\n  - {name: a, channels: 1}\n  - {name: b, channels: 1, hop: 4, window: 8}\nlayers:\n  - {type: Dense, units: 1}\n', 3, '8}'),
    ('E114', 'inputs:\n  - {name: a, channels: 1, window: 8}\n  - {name: b, channels: 1, window: 9}\nlayers:\n  - {type: Dense, units: 1}\n', 3, '9}'),
    ('E114', 'inputs:\n  - {name: a, channels: 1, hop: 2}\n  - {name: b, channels: 1, global: true}\nlayers:\n  - {type: Dense, units: 1}\n', 1, 'inputs'),
    ('E114', 'inputs:\n  - {name: a/b, channels: 1}\nlayers:\n  - {type: Dense, units: 1}\n', 2, 'a/b'),
    ('E114', 'inputs:\n  - {name: a, channels: 1, hop: 0}\nlayers:\n  - {type: Dense, units: 1}\n', 2, '0}'),
    ('E114', 'inputs:\n  - {name: a, categories: 0}\nlayers:\n  - {type: Dense, units: 1}\n', 2, '0}'),
    ('E115', 'inputs:\n  - {name: a, channels: 1}\n  - {name: a, channels: 2}\nlayers:\n  - {type: Dense, units: 1}\n', 3, 'a, channels: 2'),
    ('E121', 'inputs:\n  - {name: a, channels: 1}\nlayers:\n  - {type: Dense, name: a, units: 1}\n', 4, 'a, units'),
    ('E114', 'inputs:\n  - {name: a, channels: 1}\nlayers:\n  - {type: Embedding, inputs: a, input_dim: 4, output_dim: 2}\n', 4, 'a, input_dim'),
    ('E114', 'inputs:\n  - {name: a, categories: 5}\nlayers:\n  - {type: Embedding, input_dim: 4, output_dim: 2}\n', 4, '4, output_dim'),
    ('E114', 'same_padding: exact\ninputs:\n  - {name: a, channels: 1}\n  - {name: b, channels: 1}\nlayers:\n  - {type: Dense, units: 1}\n', 1, 'exact'),
    ("E100", "input:\n  channels: 1\n layers: []\n", 3, None),
    ("E101", "input: !!python/object/apply:os.system ['echo pwned']\nlayers: []\n", 1, "!!python"),
    ("E101", "input: {channels: !!python/int 1}\nlayers:\n  - {type: Dense, units: 1}\n", 1, "!!python"),
    ("E102", OK_HEAD + "  - {type: Conv1D, filters: 1, filters: 2, kernel_size: 8}\n", 3, "filters: 2"),
    ("E103", "input: &a [*a]\nlayers: []\n", 1, None),
    ("E110", OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: two}\n", 3, "two"),
    ("E110", OK_HEAD + "  - {type: Conv1D, filters: 1.5, kernel_size: 8}\n", 3, "1.5"),
    ("E110", OK_HEAD + "  - {type: Conv1D, filters: true, kernel_size: 8}\n", 3, "true"),
    ("E110", "input: {channels: 1}\nlayers: {type: Dense}\n", 2, "{type"),
    ("E110", "", 1, None),
    ("E110", "- 1\n- 2\n", 1, "- 1"),
    ("E111", OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 8, stride: 1}\n", 3, "stride:"),
    ("E111", "input: {channels: 1, windw: 8}\nlayers:\n  - {type: Dense, units: 1}\n", 1, "windw"),
    ("E112", OK_HEAD + "  - {type: Conv1D, filters: 1}\n", 3, "{type"),
    ("E112", "layers:\n  - {type: Dense, units: 1}\n", 1, "layers"),
    ("E112", OK_HEAD + "  - {filters: 1}\n", 3, "{filters"),
    ("E113", OK_HEAD + "  - {type: Conv2D, filters: 1, kernel_size: 8}\n", 3, "Conv2D"),
    ("E114", OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 8, strides: 0}\n", 3, "0}"),
    ("E114", OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 8, dilation_rate: 4294967296}\n", 3, "4294967296"),
    ("E114", "input: {channels: 1, window: 1000000000000}\nlayers:\n  - {type: Dense, units: 1}\n", 1, "1000000000000"),
    ("E114", OK_HEAD + "  - {type: Conv1D, filters: -3, kernel_size: 8}\n", 3, "-3"),
    ("E114", OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 8, padding: full}\n", 3, "full"),
    ("E114", "name: ../../escape\n" + OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 8}\n", 1, "../"),
    ("E114", OK_HEAD + "  - {type: Conv1D, name: a/b, filters: 1, kernel_size: 8}\n", 3, "a/b"),
    ("E115", OK_HEAD + "  - {type: Conv1D, name: a, filters: 1, kernel_size: 2, strides: 2}\n"
             "  - {type: Conv1D, name: a, filters: 1, kernel_size: 4}\n", 4, "a,"),
    ("E116", OK_HEAD + "  - {type: Conv1D, name: a, inputs: nothing, filters: 1, kernel_size: 8}\n", 3, "nothing"),
    ("E116", OK_HEAD + "  - {type: Conv1D, name: a, filters: 1, kernel_size: 8}\noutput: b\n", 4, "b"),
    ("E117", OK_HEAD + "  - {type: Add, name: a, inputs: [input, b]}\n  - {type: Add, name: b, inputs: [input, a]}\n"
             "  - {type: Flatten, name: f, inputs: b}\n  - {type: Dense, units: 1}\n", 3, "[input, b]"),
    ("E118", OK_HEAD + "  - {type: Add, name: a, inputs: [input]}\n  - {type: Flatten}\n  - {type: Dense, units: 1}\n", 3, "[input]"),
    ("E119", OK_HEAD + "  - {type: Conv1D, name: a, inputs: [input, input], filters: 1, kernel_size: 8}\n", 3, "[input, input]"),
    ("E120", OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 8, activation: rleu}\n", 3, "rleu"),
    ("E121", OK_HEAD + "  - {type: Conv1D, name: input, filters: 1, kernel_size: 8}\n", 3, "input,"),
    ("E200", OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 8, padding: same}\n", 3, "same"),
    ("E201", OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 8, padding: causal}\n", 3, "causal"),
    ("E200", OK_HEAD + "  - {type: MaxPooling1D, pool_size: 8, padding: same}\n", 3, "same"),
    ("E202", "input: {channels: 1, window: 9}\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 2, strides: 2}\n"
             "  - {type: Flatten}\n  - {type: Dense, units: 1}\n", 1, "9}"),
    ("E203", "input: {channels: 1, window: 9}\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 2}\n", 1, "9}"),
    ("E204", "input: {channels: 1}\nlayers:\n  - {type: Conv1D, name: a, filters: 1, kernel_size: 2, strides: 2}\n"
             "  - {type: Conv1D, name: b, inputs: input, filters: 1, kernel_size: 3, strides: 3}\n"
             "  - {type: Add, inputs: [a, b]}\n", 5, "[a, b]"),
    ("E205", "input: {channels: 1}\nlayers:\n  - {type: Conv1D, name: a, filters: 2, kernel_size: 2}\n"
             "  - {type: Add, inputs: [input, a]}\n", 4, "[input, a]"),
    ("E206", "input: {channels: 1, window: 3}\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 4}\n", 1, "3}"),
    ("E207", "input: {channels: 1}\nlayers:\n  - {type: Conv1D, name: a, filters: 1, kernel_size: 1, strides: 2}\n"
             "  - {type: Conv1D, name: b, inputs: input, filters: 1, kernel_size: 2, strides: 2}\n"
             "  - {type: Add, inputs: [a, b]}\n  - {type: Conv1D, filters: 1, kernel_size: 1, strides: 2}\n", 1, "input"),
    ("E208", OK_HEAD + "  - {type: Flatten}\n  - {type: Conv1D, filters: 1, kernel_size: 1}\n", 4, "type"),
    ("E208", OK_HEAD + "  - {type: Flatten}\n", 3, "{type"),
    ("E208", OK_HEAD + "  - {type: Flatten}\n  - {type: Activation, activation: softmax}\n  - {type: Dense, units: 1}\n",
     4, "type"),
    ("E210", "input: {channels: 3, window: 2}\nlayers:\n  - {type: Conv1D, filters: 4, kernel_size: 2, groups: 2}\n", 3,
     "2}"),
    ("E114", OK_HEAD + "  - {type: Dropout, rate: 1.5}\n  - {type: Flatten}\n  - {type: Dense, units: 1}\n", 3, "1.5"),
    ("E114", OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 8, kernel_initializer: glorot_unifrom}\n", 3,
     "glorot_unifrom"),
    ("N305", OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 1, padding: same}\n  - {type: Flatten}\n"
             "  - {type: Dense, units: 1}\n", 3, "same"),
    ("E209", "input: {channels: 1}\nlayers:\n" + "".join(
        f"  - {{type: Conv1D, name: c{i}, filters: 1, kernel_size: 1, strides: 65536}}\n" for i in range(2))
        + "  - {type: Conv1D, name: c2, filters: 1, kernel_size: 2, dilation_rate: 65536}\n", 4, "{type"),
    ("W300", OK_HEAD + "  - {type: Conv1D, name: a, filters: 1, kernel_size: 8}\n"
             "  - {type: Conv1D, name: b, inputs: input, filters: 1, kernel_size: 8}\noutput: a\n", 4, "type"),
    ("W301", "input: {channels: 1, window: 12}\nlayers:\n  - {type: Conv1D, name: a, filters: 1, kernel_size: 3}\n"
             "  - {type: MaxPool1D, name: b, inputs: input}\n  - {type: Concatenate, inputs: [b, a]}\n"
             "  - {type: Flatten}\n  - {type: Dense, units: 1}\n", 1, "12}"),
    ("W302", "input: {channels: 1}\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 1, strides: 3}\n"
             "  - {type: Conv1D, filters: 1, kernel_size: 2}\n", 3, "3}"),
    ("W303", "input: {channels: 1}\nlayers:\n" + "  - {type: Conv1D, filters: 1, kernel_size: 2, strides: 2}\n" * 21,
     1, "input"),
    ("E211", "input: {channels: 1, window: 100000}\nlayers:\n  - {type: Conv1D, filters: 4096, kernel_size: 8}\n"
     "  - {type: Flatten}\n  - {type: Dense, units: 4096}\n", 5, "{type: Dense"),
    ("E212", "same_padding: exact\ninput: {channels: 1, window: 70000}\nlayers:\n"
     "  - {type: Conv1D, filters: 4, kernel_size: 65535, padding: same}\n  - {type: GlobalAveragePooling1D}\n",
     4, "{type: Conv1D"),
    ("W306", "same_padding: exact\ninput: {channels: 1, window: 8}\nlayers:\n"
     "  - {type: Conv1D, filters: 1, kernel_size: 3, padding: same}\n"
     "  - {type: Conv1D, filters: 1, kernel_size: 7, padding: same}\n  - {type: GlobalMaxPooling1D}\n", 5, "type"),
    ("E200", OK_HEAD + "  - {type: ZeroPadding1D, padding: 2}\n  - {type: Flatten}\n", 3, "type"),
    ("E114", "same_padding: yes_please\ninput: {channels: 1}\nlayers:\n  - {type: Flatten}\n", 1, "yes_please"),
    ("W304", "input: {channels: 1, window: 010}\nlayers:\n  - {type: Flatten}\n  - {type: Dense, units: 1}\n", 1, "010"),
    ("E213", "input: {channels: 2}\nlayers:\n  - {type: Conv1D, filters: 4, kernel_size: 2}\n"
     "  - {type: GroupNormalization, groups: 2}\n  - {type: GlobalAveragePooling1D}\n", 4, "type: GroupNormalization"),
]


def diagnose(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return check(str(path)).diagnostics


@pytest.mark.parametrize("code, text, line, at", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_code_is_located(tmp_path, code, text, line, at):
    found = diagnose(tmp_path, text)
    hits = [d for d in found if d.code == code]
    assert hits, f"expected {code}, got {[(d.code, d.message) for d in found]}"
    d = hits[0]
    assert d.span.path.endswith("spec.yaml")
    assert d.span.line == line, d
    if at is not None:
        source_line = text.splitlines()[line - 1]
        assert source_line[d.span.column - 1:].startswith(at), (d, source_line)
    assert d.message and d.help


def test_every_code_has_a_case_and_docs():
    assert {c[0] for c in CASES} == set(RULES)
    for rule in RULES.values():
        assert rule.summary and rule.why and rule.example and rule.severity in ("error", "warning", "note")


def test_unsafe_tags_are_never_executed(tmp_path):
    marker = tmp_path / "executed"
    text = f"input: !!python/object/apply:os.system ['touch {marker}']\nlayers: []\n"
    diagnose(tmp_path, text)
    assert not marker.exists()


def test_did_you_mean(tmp_path):
    found = diagnose(tmp_path, OK_HEAD + "  - {type: conv1d, filters: 1, kernel_size: 8}\n")
    assert "Conv1D" in found[0].help
    found = diagnose(tmp_path, OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_sise: 8}\n")
    assert any("kernel_size" in d.help for d in found)


def test_misaligned_names_the_layer_and_nearest_windows(tmp_path):
    text = textwrap.dedent("""\
        input: {channels: 1, window: 999}
        layers:
          - {type: Conv1D, name: c1, filters: 1, kernel_size: 2, strides: 2}
          - {type: Conv1D, name: c2, filters: 1, kernel_size: 2, strides: 2}
          - {type: Conv1D, name: c3, filters: 1, kernel_size: 2, strides: 2}
          - {type: Flatten}
          - {type: Dense, units: 1}
        """)
    (d,) = diagnose(tmp_path, text)
    assert d.code == "E202" and "`c1`" in d.message
    assert "`window: 992` or `window: 1000`" in d.help


def test_output_width_suggests_flatten_and_a_window(tmp_path):
    text = "input: {channels: 1, window: 12}\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 2, strides: 2}\n" \
           "  - {type: Conv1D, filters: 1, kernel_size: 2, strides: 2}\n"
    (d,) = diagnose(tmp_path, text)
    assert d.code == "E203" and "Flatten" in d.help and "`window: 4`" in d.help


def test_all_problems_in_a_file_are_reported(tmp_path):
    text = OK_HEAD + "  - {type: Conv1D, filters: 0, kernel_size: 8}\n  - {type: Conv1D, filters: 1, kernel_sise: 1}\n"
    codes = sorted(d.code for d in diagnose(tmp_path, text))
    assert codes == ["E111", "E112", "E114"]


THREE = """\
input: {channels: 1, window: 21}
layers:
  - {type: Conv1D, name: c1, filters: 8, kernel_size: 2, strides: 2}
  - {type: Conv1d, name: c2, filters: 8, kernel_size: 2, strides: 2}
  - {type: Conv1D, name: c3, filters: 8, kernel_size: 3, padding: same}
  - {type: Flatten, name: flat}
  - {type: Dense, name: out, units: 1}
"""


def test_independent_problems_of_different_passes_in_one_run(tmp_path):
    """A type typo (E113), a 'same' padding in a later layer (E200) and a window that misaligns the layer
    before them (E202): all three in one run, each at its place; fixing one leaves the others."""
    found = {(d.code, d.span.line) for d in diagnose(tmp_path, THREE)}
    assert found == {("E202", 1), ("E113", 4), ("E200", 5)}
    fixed = THREE.replace("Conv1d", "Conv1D")
    assert {(d.code, d.span.line) for d in diagnose(tmp_path, fixed)} == {("E202", 1), ("E200", 5)}
    fixed = fixed.replace("padding: same", "padding: valid")
    assert {(d.code, d.span.line) for d in diagnose(tmp_path, fixed)} == {("E202", 1)}
    assert diagnose(tmp_path, fixed.replace("window: 21", "window: 20")) == []


def test_nothing_is_guessed_past_a_broken_layer(tmp_path):
    """What depends on a layer that does not read is not checked (its input is unknown), and a window
    misalignment only found past it is not said; a misaligned layer before it is."""
    text = THREE.replace("window: 21", "window: 20").replace("padding: same", "strides: 3")
    assert [d.code for d in diagnose(tmp_path, text)] == ["E113"]  # c3 (stride 3) misaligns, but past c2
    text = THREE.replace("padding: same", "padding: valid")
    assert sorted(d.code for d in diagnose(tmp_path, text)) == ["E113", "E202"]


def test_not_utf8(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"input: {channels: 1}\nname: \xff\n")
    (d,) = check(str(path)).diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E100", 2, 7)


@pytest.mark.parametrize("value, says", [("name: 1e-3", "string, not a number"), ("name: yes", "boolean true"),
                                         ("name: Off", "boolean false"), ("name: 0755", "octal number 493")])
def test_suspicious_yaml_values(tmp_path, value, says):
    found = diagnose(tmp_path, value + "\n" + OK_HEAD.replace("8}", "1}") + "  - {type: Dense, units: 1}\n")
    assert [d.code for d in found if d.code == "W304"] == ["W304"]
    assert says in next(d.message for d in found if d.code == "W304")


def test_quoted_and_plain_values_are_not_suspicious(tmp_path):
    text = 'name: "no"\ninput: {channels: 1, window: 1}\nlayers:\n  - {type: Dense, units: 1, use_bias: false}\n'
    assert diagnose(tmp_path, text) == []


@pytest.mark.parametrize("code", ["W301", "W302"])
def test_ignore_comment_silences_a_warning_on_its_line(tmp_path, code):
    text, line = next((c[1], c[2]) for c in CASES if c[0] == code)
    lines = text.splitlines()
    assert [d.code for d in diagnose(tmp_path, text)] == [code]
    lines[line - 1] += f"  # causalc: ignore[E999, {code.lower()}]"
    assert diagnose(tmp_path, "\n".join(lines)) == []
    lines[line - 1] = lines[line - 1].replace(code.lower(), "W300")  # another code: not silenced
    assert [d.code for d in diagnose(tmp_path, "\n".join(lines))] == [code]


def test_errors_cannot_be_silenced(tmp_path):
    text = OK_HEAD + "  - {type: Conv1D, filters: 1, kernel_size: 8, padding: same}  # causalc: ignore[E200]\n"
    assert [d.code for d in diagnose(tmp_path, text)] == ["E200"]


def test_diagnostics_page_lists_every_code():
    import os

    from conftest import ROOT

    readme = open(os.path.join(ROOT, "docs", "diagnostics.md"), encoding="utf-8").read()
    for rule in RULES.values():
        assert f"| {rule.code} | {rule.name} |" in readme
