"""`causalc predict`: every row equals the practice model over the whole recording whatever the chunk, for
one input and several (a hop input, globals, categories), both warm-ups and exact 'same' padding; audio and
EDF readers; shards; bad input refused before any work, nothing written."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT, SMALL_VOCODER, compiled, randomize, relative_error
from convert.core.errors import BadValue

keras = pytest.importorskip("keras")
FCN = os.path.join(ROOT, "specs", "fcn-classifier.yaml")  # exact 'same' padding
STRIDED = os.path.join(ROOT, "specs", "strided-stack.yaml")
CONDITIONED = os.path.join(ROOT, "tests", "specs", "conditioned.yaml")


def _whole(model, arrays):
    return np.asarray(model([a[None] for a in arrays] if len(arrays) > 1 else arrays[0][None]))[0]


@pytest.mark.parametrize("path", [FCN, STRIDED], ids=["same-exact", "strided"])
@pytest.mark.parametrize("warmup", ["causal", "exact"])
def test_every_row_is_the_whole_recordings_whatever_the_chunk(path, warmup):
    from convert import api

    analysis = api.load(path)
    model = api.practice_model(analysis, warmup)
    randomize(model, 3)
    x = np.random.default_rng(0).normal(size=(3 * analysis.window + 17, analysis.spec.inputs[0].channels))
    x = x.astype(np.float32)
    want = _whole(model, [x])
    # short chunks cost one call each: over the first window and a few steps beyond it
    short = x[:analysis.window + 9]
    want_short = _whole(model, [short])
    for chunk, batch in ((1, 1), (7, 3)):
        got = api.predict(model, analysis, short, chunk=chunk, warmup=warmup, batch_size=batch)
        assert got.shape == want_short.shape
        assert relative_error(got, want_short) < 1e-5, (chunk, batch)
    for chunk, batch in ((97, 3), (analysis.window, 2), (len(x) + 5, 1)):
        got = api.predict(model, analysis, x, chunk=chunk, warmup=warmup, batch_size=batch)
        assert got.shape == want.shape
        assert relative_error(got, want) < 1e-5, (chunk, batch)


def test_several_inputs_with_hop_frames_globals_and_categories():
    from convert import api

    analysis = api.load(CONDITIONED)
    model = api.practice_model(analysis)
    randomize(model, 4)
    steps, rng = 301, np.random.default_rng(1)
    arrays = [rng.normal(size=(steps, 2)).astype(np.float32), rng.normal(size=(steps // 3 + 1, 3)).astype(np.float32),
              rng.normal(size=(2,)).astype(np.float32), np.array(2, np.int32),
              rng.integers(0, 5, steps).astype(np.int32)]
    want = _whole(model, arrays)
    seen = []
    for start, rows in api.predict_chunks(model, analysis, arrays, chunk=20, batch_size=4):
        seen.append((start, len(rows)))
        assert relative_error(rows, want[start:start + len(rows)]) < 1e-5
    assert seen[0][0] == 0 and sum(n for _, n in seen) == steps
    assert all(start % 3 == 0 for start, _ in seen)  # chunks start on a frame


def test_the_command_writes_one_file_or_a_folder_and_shards(tmp_path):
    from convert.cli import main

    _, model = compiled(STRIDED)
    model.save(tmp_path / "m.keras")
    rng = np.random.default_rng(2)
    for name in ("a", "b", "c"):
        np.save(tmp_path / f"{name}.npy", rng.normal(size=(500, 1)).astype(np.float32))
    runner = CliRunner()
    result = runner.invoke(main, ["predict", STRIDED, str(tmp_path / "m.keras"), str(tmp_path / "a.npy"),
                                  "-o", str(tmp_path / "a-out.npy"), "--chunk", "64"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("500 predictions in ")
    got = np.load(tmp_path / "a-out.npy")
    assert relative_error(got, _whole(model, [np.load(tmp_path / "a.npy")])) < 1e-5
    files = [str(tmp_path / f"{name}.npy") for name in ("a", "b", "c")]
    for shard in ("0/2", "1/2"):
        result = runner.invoke(main, ["predict", STRIDED, str(tmp_path / "m.keras"), *files, "-o", str(tmp_path / "out"),
                                      "--shard", shard])
        assert result.exit_code == 0, result.output
    assert sorted(p for p in os.listdir(tmp_path / "out") if not p.startswith(".")) == ["a.npy", "b.npy", "c.npy"]
    assert relative_error(np.load(tmp_path / "out" / "a.npy"), got) < 1e-5  # another chunk: float rounding only
    assert not [p for p in os.listdir(tmp_path / "out") if p.startswith(".causalc-") and not p.endswith(".lock")]


def test_audio_of_any_width_and_flac_and_edf(tmp_path):
    soundfile = pytest.importorskip("soundfile")
    from convert import api

    _, model = compiled(STRIDED)
    analysis = api.load(STRIDED)
    x = (0.5 * np.sin(np.arange(2000) / 9.0)).astype(np.float32)
    for name, subtype in (("p16.wav", "PCM_16"), ("p24.wav", "PCM_24"), ("f32.wav", "FLOAT"), ("s.flac", "PCM_16")):
        soundfile.write(tmp_path / name, x, 8000, subtype=subtype)
        (arrays,) = [api.read_recording(str(tmp_path / name), analysis)]
        want = soundfile.read(tmp_path / name, dtype="float32", always_2d=True)[0]
        got = api.predict(model, analysis, arrays, chunk=300)
        assert relative_error(got, _whole(model, [want])) < 1e-5, name
    pyedflib = pytest.importorskip("pyedflib")
    path = str(tmp_path / "r.edf")
    with pyedflib.EdfWriter(path, 2, file_type=pyedflib.FILETYPE_EDFPLUS) as writer:
        writer.setSignalHeaders([{"label": label, "dimension": "uV", "sample_frequency": 100, "physical_max": 100,
                                  "physical_min": -100, "digital_max": 32767, "digital_min": -32768}
                                 for label in ("Fz", "Cz")])
        writer.writeSamples([50 * x[:2000].astype(np.float64), 20 * x[:2000].astype(np.float64)])
    (cz,) = api.read_recording(path, analysis, ("Cz",))
    assert cz.shape == (2000, 1) and abs(float(np.asarray(cz[100:101])[0, 0]) - 20 * x[100]) < 0.01
    with pytest.raises(BadValue, match="no channel Pz"):
        api.read_recording(path, analysis, ("Pz",))


def test_bad_input_is_refused_before_any_work(tmp_path):
    from convert.cli import main

    _, model = compiled(STRIDED)
    model.save(tmp_path / "m.keras")
    rng = np.random.default_rng(3)
    np.save(tmp_path / "good.npy", rng.normal(size=(600, 1)).astype(np.float32))
    np.save(tmp_path / "two.npy", rng.normal(size=(300, 2)).astype(np.float32))
    nan = rng.normal(size=(300, 1)).astype(np.float32)
    nan[123] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "short.npy", rng.normal(size=(3, 1)).astype(np.float32))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "good.npy").read_bytes()[:200])
    (tmp_path / "file").write_text("")
    small = tmp_path / "small-vocoder.yaml"
    small.write_text(SMALL_VOCODER)
    runner = CliRunner()
    good, m = str(tmp_path / "good.npy"), str(tmp_path / "m.keras")
    cases = [
        ([STRIDED, m, str(tmp_path / "two.npy"), "-o", str(tmp_path / "o.npy")], "expected (steps, 1)"),
        ([STRIDED, m, str(tmp_path / "nan.npy"), "-o", str(tmp_path / "o.npy")], "NaN or infinity at step 123"),
        ([STRIDED, m, str(tmp_path / "short.npy"), "-o", str(tmp_path / "o.npy")], "needs a window"),
        ([STRIDED, m, str(tmp_path / "cut.npy"), "-o", str(tmp_path / "o.npy")], "cannot read"),
        ([STRIDED, m, str(tmp_path / "none.npy"), "-o", str(tmp_path / "o.npy")], "no such file"),
        ([STRIDED, m, good, good, "-o", str(tmp_path / "file")], "is a file"),
        ([STRIDED, m, good, "-o", str(tmp_path / "o.txt")], "must end in .npy"),
        ([STRIDED, m, good, "-o", str(tmp_path / "o.npy"), "--shard", "2/2"], "0 <= I < N"),
        ([str(small), m, good, "-o", str(tmp_path / "o.npy")], "give a .npz with one array per input"),
        ([FCN, m, good, "-o", str(tmp_path / "o.npy")], "does not fit"),
    ]
    for args, says in cases:
        result = runner.invoke(main, ["predict", *args])
        assert result.exit_code != 0 and says in result.output and "Traceback" not in result.output, (args, result.output)
    assert sorted(os.listdir(tmp_path)) == ["cut.npy", "file", "good.npy", "m.keras", "nan.npy", "short.npy",
                                            "small-vocoder.yaml", "two.npy"]


def test_a_16_bit_wav_reads_without_soundfile(tmp_path):
    import subprocess
    import sys
    import wave

    x = (np.sin(np.arange(3000) / 9) * 20000).astype("<i2")
    with wave.open(str(tmp_path / "p16.wav"), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(x.tobytes())
    code = ("import sys\nclass A:\n    def find_spec(self, n, p=None, t=None):\n        if n.split('.')[0] == 'soundfile':\n"
            "            raise ModuleNotFoundError(n)\nsys.meta_path.insert(0, A())\nimport numpy as np\n"
            "from convert.pipeline import front_end\nfrom convert.runtime.recordings import read\n"
            "(r,) = read(sys.argv[1], front_end(sys.argv[2]))\nnp.save(sys.argv[3], np.asarray(r[0:len(r)]))\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p16.wav"), STRIDED, str(tmp_path / "r.npy")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy")[:, 0], (x / 32768.0).astype(np.float32))
