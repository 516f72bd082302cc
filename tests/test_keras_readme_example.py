"""The streaming page's conditioned vocoder example (docs/streaming.md), run as written: trained briefly on a signal whose pitch follows
its frames, the generated audio follows a track it never saw."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from conftest import ROOT

pytest.importorskip("tensorflow")


def _example() -> str:
    with open(os.path.join(ROOT, "docs", "streaming.md"), encoding="utf-8") as handle:
        text = handle.read()
    found = re.search(r"<!-- example: vocoder -->\s*```python\n(.*?)```\s*<!-- /example -->", text, re.S)
    assert found, "docs/streaming.md lost its vocoder example"
    return found.group(1)


@pytest.mark.slow
def test_the_vocoder_follows_a_new_pitch_track(monkeypatch):
    monkeypatch.chdir(ROOT)
    scope: dict = {"__name__": "readme_example"}
    exec(compile(_example(), "docs/streaming.md (vocoder example)", "exec"), scope)
    track, heard = scope["track"][::2], scope["heard"]
    assert len(heard) == len(track) == 12
    error = np.abs(heard - track) / track
    assert np.median(error) < 0.05 and np.all(error < 0.25), (track, heard)
