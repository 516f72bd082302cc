"""`causalc draw` (no TensorFlow): every bundled spec draws in every form, and the connections drawn are
exactly those through which, by the evaluator's semantics, the window reaches the output."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import BLOCK_TENSORFLOW, ROOT, SPECS, spec_id
from convert.cli import main
from convert.pipeline import check
from evaluator import influence, load, practice_influence

pytest.importorskip("matplotlib")
EDGE = re.compile(r'id="edge:([^:"]+):([^:"]+):(-?\d+):(-?\d+)"')


def _edges(svg: str) -> set:
    return {(a, b, int(c), int(d)) for a, b, c, d in EDGE.findall(svg)}


# their drawings hold thousands of connections: drawn in the slow run
LARGE = {"vocoder", "matchboxnet", "tc-resnet", "wavenet-embedding", "deep4net", "densenet", "wavenet"}


def _by_size(paths):
    return [pytest.param(p, marks=pytest.mark.slow) if spec_id(p) in LARGE else p for p in paths]


@pytest.mark.parametrize("path", _by_size(SPECS), ids=spec_id)
def test_drawn_connections_are_those_that_reach_the_output(path, tmp_path):
    from convert.views.draw import draw, per_step_drawing, practice_drawing

    analysis = check(path).analysis
    spec, window = load(path), analysis.window
    draw(analysis, str(tmp_path / "per-step.svg"), "per-step", expand=True)
    first = per_step_drawing(analysis).first
    want = {e for e in influence(spec, window) if e[2] >= first and e[3] >= first}
    assert _edges((tmp_path / "per-step.svg").read_text()) == want
    draw(analysis, str(tmp_path / "practice.svg"), "practice", steps=40, expand=True)
    assert _edges((tmp_path / "practice.svg").read_text()) == practice_influence(spec, window, last=39)
    assert practice_drawing(analysis, 40).field == (40 - analysis.receptive_field, 39)


def test_unused_input_steps_are_marked(tmp_path):
    from convert.views.draw import per_step_drawing

    path = tmp_path / "skip.yaml"
    path.write_text("input: {channels: 1}\nlayers:\n  - {type: Conv1D, filters: 1, kernel_size: 1, strides: 3}\n"
                    "  - {type: Conv1D, filters: 1, kernel_size: 2}\n")
    drawing = per_step_drawing(check(str(path)).analysis)
    assert drawing.unused == (1, 2)  # window 4: steps 0 and 3 are read, 1 and 2 skipped by the stride


BLOCKED = BLOCK_TENSORFLOW + """
from convert.pipeline import check
from convert.views.draw import draw
for i, path in enumerate(sys.argv[2:]):
    for form in ('per-step', 'practice', 'both') if i == 0 else ('both',):
        draw(check(path).analysis, sys.argv[1] + '/' + path.split('/')[-1] + form + '.svg', form)
print('drawn')
"""


@pytest.mark.parametrize("paths", [pytest.param(SPECS, marks=pytest.mark.slow, id="every"),
                                   pytest.param([p for p in SPECS if spec_id(p) in ("pooling", "residual", "flatten-head")],
                                                id="small")])
def test_every_spec_draws_in_every_form_without_tensorflow(paths, tmp_path):
    result = subprocess.run([sys.executable, "-c", BLOCKED, str(tmp_path), *paths], capture_output=True, text=True,
                            cwd=ROOT, timeout=600)
    assert result.returncode == 0 and result.stdout.strip() == "drawn", result.stderr[-2000:]
    assert len(list(tmp_path.glob("*.svg"))) == len(paths) + 2


def test_a_drawing_holds_what_a_picture_can_show():
    """A large network's per-step panel shows fewer steps instead of tens of thousands of connections; its
    practice panel covers the whole receptive field on a log axis with only the positions that feed the
    output step (a small receptive field: every step, linearly)."""
    import os

    from convert.views.draw import MAX_EDGES, MAX_POSITIONS, per_step_drawing, practice_drawing

    analysis = check(os.path.join(ROOT, "specs", "vocoder.yaml")).analysis
    per_step, practice = per_step_drawing(analysis), practice_drawing(analysis)
    assert len(per_step.edges) <= MAX_EDGES and analysis.window - per_step.first < MAX_POSITIONS
    assert practice.log and practice.last + 1 == analysis.receptive_field + 4
    fed = {(e.source, e.src) for e in practice.edges} | {(practice.target, practice.last)}
    assert all((row.name, s) in fed for row in practice.rows for s in row.steps)  # only what feeds the output
    small = check(os.path.join(ROOT, "specs", "flatten-head.yaml")).analysis
    assert not practice_drawing(small).log and practice_drawing(small).rows[0].steps == tuple(range(small.receptive_field + 4))
    small = check(os.path.join(ROOT, "specs", "pooling.yaml")).analysis
    assert per_step_drawing(small).first == max(0, small.window - MAX_POSITIONS)  # small ones: every step


def test_draw_command_and_its_errors(tmp_path):
    runner = CliRunner()
    spec = SPECS[0]
    result = runner.invoke(main, ["draw", spec, "-o", str(tmp_path / "f.png"), "--form", "practice"])
    assert result.exit_code == 0 and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    result = runner.invoke(main, ["draw", spec, "-o", str(tmp_path / "f.jpg")])
    assert result.exit_code == 2 and ".svg, .png, .pdf" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: {channels: 1}\nlayers:\n  - {type: Conv1D, filters: 1}\n")
    result = runner.invoke(main, ["draw", str(bad), "-o", str(tmp_path / "bad.svg")])
    assert result.exit_code == 1 and "E112" in result.output and not (tmp_path / "bad.svg").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "f.png"]  # no temporary file left


def test_draw_without_matplotlib_says_what_to_install(tmp_path):
    code = ("import sys\nclass A:\n    def find_spec(self, n, p=None, t=None):\n        if n.split('.')[0] == 'matplotlib':\n"
            "            raise ModuleNotFoundError(n)\nsys.meta_path.insert(0, A())\nfrom convert.cli import run\n"
            "sys.argv = ['causalc', 'draw', sys.argv[1], '-o', sys.argv[2]]\nrun()\n")
    result = subprocess.run([sys.executable, "-c", code, SPECS[0], str(tmp_path / "f.svg")], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1 and "pip install 'causalc[plot]'" in result.stderr
    assert not (tmp_path / "f.svg").exists()


def test_svg_output_is_deterministic(tmp_path):
    import os

    from convert.views.draw import draw

    analysis = check(os.path.join(ROOT, "specs", "residual.yaml")).analysis
    draw(analysis, str(tmp_path / "a.svg"))
    draw(analysis, str(tmp_path / "b.svg"))
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def test_readme_pictures_and_tables_are_current():
    """The pictures page's two pictures exist, and the explain tables beside them are what explain prints."""
    import os

    from convert.views.explain import explain_text

    readme = open(os.path.join(ROOT, "docs", "pictures.md"), encoding="utf-8").read()
    for stem in ("flatten-head", "pooling"):
        assert f"![{stem} drawn](../specs/pictures/{stem}.svg)" in readme
        assert os.path.getsize(os.path.join(ROOT, "specs", "pictures", f"{stem}.svg")) > 10_000
        table = explain_text(check(os.path.join("specs", f"{stem}.yaml")).analysis)
        assert table.rstrip() in readme


def test_exact_same_padding_shows_its_zeros_and_edge_positions():
    """fcn-classifier (three kernel-3 'same' convolutions over 500 steps): the zero after the window's newest
    step beside the input, relu1 and relu2 (each padded tensor), none beside the tensors no convolution pads;
    the edge positions are the 'same' plan's (1, 2, 3 of the newest positions of conv1, conv2, conv3), and a
    spec without exact 'same' padding has neither."""
    from convert.views.draw import per_step_drawing

    drawing = per_step_drawing(check(os.path.join(ROOT, "specs", "fcn-classifier.yaml")).analysis)
    assert set(drawing.zeros) == {("input", 500), ("relu1", 500), ("relu2", 500)}
    newest = {name: sorted(s for n, s in drawing.edge_positions if n == name) for name in ("conv1", "conv2", "conv3")}
    assert newest == {"conv1": [499], "conv2": [498, 499], "conv3": [497, 498, 499]}
    plain = per_step_drawing(check(os.path.join(ROOT, "specs", "strided-stack.yaml")).analysis)
    assert plain.zeros == () and plain.edge_positions == ()


def test_the_practice_panel_shows_every_dilation_of_wavenet():
    """specs/wavenet.yaml (receptive field 1,024): the default practice panel draws the output step's
    connections through every dilation of its gated blocks, 1 to 512, back to the oldest input step."""
    from convert.views.draw import practice_drawing

    analysis = check(os.path.join(ROOT, "specs", "wavenet.yaml")).analysis
    drawing = practice_drawing(analysis)
    spans = {e.dst - e.src for e in drawing.edges if e.layer.startswith("filter")}
    assert spans == {0} | {2**k for k in range(10)}
    inputs = next(row for row in drawing.rows if row.name == "input").steps
    assert inputs[0] == drawing.last - analysis.receptive_field + 1 and len(inputs) == analysis.receptive_field


def _blocks_spec(tmp_path, kernels, dilations=None, shared=True) -> str:
    """A stem, then one gated residual block per entry of `kernels` (its dilation from `dilations`), each
    reading the block before it and, when `shared`, a second model input; a head over the last block."""
    lines = ["inputs:", "  - {name: x, channels: 1, window: 256}", "  - {name: c, channels: 2, hop: 4}", "layers:",
             "  - {type: Conv1D, name: stem, inputs: x, filters: 4, kernel_size: 1}"]
    previous = "stem"
    for b, kernel in enumerate(kernels, 1):
        d = (dilations or [1] * len(kernels))[b - 1]
        lines += [f"  - {{type: Conv1D, name: f{b}, inputs: {previous}, filters: {4 + b}, kernel_size: {kernel}, "
                  f"dilation_rate: {d}, activation: tanh}}",
                  f"  - {{type: Conv1D, name: c{b}, inputs: {'c' if shared else previous}, filters: {4 + b}, kernel_size: 1}}",
                  f"  - {{type: Add, name: s{b}, inputs: [f{b}, c{b}]}}",
                  f"  - {{type: Conv1D, name: r{b}, filters: 4, kernel_size: 1}}",
                  f"  - {{type: Add, name: b{b}, inputs: [{previous}, r{b}]}}"]
        previous = f"b{b}"
    lines += ["  - {type: Flatten, name: flat}", "  - {type: Dense, name: out, units: 3}"]
    path = tmp_path / "blocks.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _layers(path):
    analysis = check(path).analysis
    assert analysis is not None, check(path).diagnostics
    return analysis, [plan.layer for plan in analysis.plans if plan.used]


def test_like_blocks_are_found_whatever_their_dilation_channels_or_shared_inputs(tmp_path):
    """Blocks alike but for their dilation and channels, each reading the block before it and one shared
    model input, form one run; a block of another kernel ends it; the bundled WaveNets' gated blocks."""
    from convert.views.blocks import Run, repeated_blocks

    _, layers = _layers(_blocks_spec(tmp_path, [2] * 6, dilations=[1, 2, 4, 8, 16, 32]))
    assert repeated_blocks(layers) == [Run(1, 5, 6)]  # the stem, then six blocks of five layers
    _, layers = _layers(_blocks_spec(tmp_path, [2, 2, 2, 2, 3, 2, 2]))
    assert repeated_blocks(layers) == [Run(1, 5, 4)]  # the fifth block's kernel ends the run
    _, layers = _layers(_blocks_spec(tmp_path, [2, 2]))
    assert repeated_blocks(layers) == []  # two blocks: nothing between them to collapse
    for name, run in (("wavenet", Run(1, 6, 9)), ("wavenet-embedding", None), ("vocoder", None)):
        _, layers = _layers(os.path.join(ROOT, "specs", f"{name}.yaml"))
        found = repeated_blocks(layers)
        assert len(found) == 1 and found[0].count >= 9 and (run is None or found[0] == run)
        first = [layers[i].name for i in found[0].block(0)]
        assert len(set(first)) == found[0].length and found[0].length >= 6


def test_a_tall_picture_collapses_like_blocks_and_keeps_every_connection_between_drawn_rows(tmp_path):
    """specs/wavenet.yaml: 23 rows instead of 64 (blocks 2 to 8 as one shaded row, block8, the tensor
    block 9 reads); the connections left are exactly the full drawing's between the rows left, in both
    panels and in the SVG; `expand` and a short network draw every row."""
    from convert.views.draw import COLLAPSE_ROWS, collapsed, draw, hidden_blocks, per_step_drawing, practice_drawing

    analysis = check(os.path.join(ROOT, "specs", "wavenet.yaml")).analysis
    hidden = hidden_blocks(analysis)
    assert list(hidden.bands) == ["block8"] and "stands for 7 blocks" in hidden.bands["block8"]
    assert hidden.hidden == {f"{k}{b}" for k in ("filter", "gate", "gated", "skip", "res", "block") for b in range(2, 9)} - {"block8"}
    for full in (per_step_drawing(analysis), practice_drawing(analysis)):
        picture = collapsed(full, hidden)
        names = {row.name for row in picture.rows}
        assert len(picture.rows) == 23 and picture.bands == ("block8",) and not names & hidden.hidden
        assert set(picture.edges) == {e for e in full.edges if e.layer in names and e.source in names}
        assert any(e.source == "block8" for e in picture.edges)  # the band row feeds block 9
    draw(analysis, str(tmp_path / "c.svg"), "per-step")
    draw(analysis, str(tmp_path / "e.svg"), "per-step", expand=True)
    full = per_step_drawing(analysis)
    assert _edges((tmp_path / "e.svg").read_text()) == set(full.edges)
    assert _edges((tmp_path / "c.svg").read_text()) == set(collapsed(full, hidden).edges) < set(full.edges)
    short, layers = _layers(_blocks_spec(tmp_path, [2] * 3))
    assert len(layers) + 2 <= COLLAPSE_ROWS and hidden_blocks(short).hidden == frozenset()
    tall, _ = _layers(_blocks_spec(tmp_path, [2] * 8))
    assert hidden_blocks(tall).hidden == {f"{k}{b}" for k in "fcsrb" for b in range(2, 8)} - {"b7"}


def test_draw_expand_flag(tmp_path):
    runner = CliRunner()
    spec = os.path.join(ROOT, "specs", "wavenet.yaml")
    for flags, name in (([], "c.svg"), (["--expand"], "e.svg")):
        result = runner.invoke(main, ["draw", spec, "-o", str(tmp_path / name), "--form", "per-step", *flags])
        assert result.exit_code == 0, result.output
    collapsed_rows = (tmp_path / "c.svg").read_text().count("Conv1D")
    assert collapsed_rows < (tmp_path / "e.svg").read_text().count("Conv1D")
