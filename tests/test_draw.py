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
    draw(analysis, str(tmp_path / "per-step.svg"), "per-step")
    first = per_step_drawing(analysis).first
    want = {e for e in influence(spec, window) if e[2] >= first and e[3] >= first}
    assert _edges((tmp_path / "per-step.svg").read_text()) == want
    draw(analysis, str(tmp_path / "practice.svg"), "practice", steps=40)
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
