"""Writing a spec back as YAML gives the same IR and the same analysis (no TensorFlow)."""

from __future__ import annotations

import os

import pytest

from conftest import ROOT, SPECS, spec_id
from convert.frontend.writer import spec_text
from convert.pipeline import check, check_text

KINDS = os.path.join(ROOT, "tests", "specs", "kinds.yaml")


@pytest.mark.parametrize("path", SPECS + [KINDS], ids=spec_id)
def test_written_spec_reads_back_the_same(path, tmp_path):
    first = check(path).analysis
    text = spec_text(first.spec)
    again = check_text(text, str(tmp_path / "again.yaml"))
    assert again.ok, again.diagnostics
    second = again.analysis
    assert [(l.name, l.type, l.inputs, l.config) for l in second.spec.layers] == \
        [(l.name, l.type, l.inputs, l.config) for l in first.spec.layers]
    assert (second.window, second.receptive_field, second.params) == (first.window, first.receptive_field, first.params)
    assert spec_text(second.spec) == text  # a fixed point
