"""What a command reads besides the spec: primes, model files, generation options, weight maps. Each test
pins one finding of a hardening review (it failed before the fix)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from conftest import MULAW, ROOT
from convert.cli import main


GOOD = "input: {channels: 1, window: 4}\nlayers:\n  - {type: Flatten, name: f}\n  - {type: Dense, name: d, units: 1}\n"


def _wav_bytes(frames: int = 100, channels: int = 1, width: int = 2) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(width)
        handle.setframerate(16000)
        handle.writeframes(b"\x01\x02" * (frames * channels * width // 2))
    return buffer.getvalue()


def _npy_bytes(array) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    return buffer.getvalue()


def _bad_primes() -> dict:
    import io
    import struct

    import numpy as np

    npz = io.BytesIO()
    np.savez(npz, a=np.zeros(3))
    huge = io.BytesIO()
    np.lib.format.write_array_header_1_0(huge, {"descr": "<f4", "fortran_order": False, "shape": (10**10,)})
    extensible = bytearray(_wav_bytes())
    extensible[20:22] = struct.pack("<H", 0xFFFE)
    floating = bytearray(_wav_bytes())
    floating[20:22] = struct.pack("<H", 3)
    no_channels = bytearray(_wav_bytes())
    no_channels[22:24] = struct.pack("<H", 0)
    return {"empty.npy": b"", "empty.wav": b"", "archive.npy": npz.getvalue(), "text.wav": b"hello" * 20,
            "huge.npy": huge.getvalue(), "truncated.wav": _wav_bytes()[:-50], "nan.npy": _npy_bytes([1.0, float("nan")]),
            "inf.npy": _npy_bytes([float("inf")]), "extensible.wav": bytes(extensible), "float.wav": bytes(floating),
            "no-channels.wav": bytes(no_channels), "object.npy": b"\x93NUMPY\x01\x00"
            + b"v\x00{'descr': '|O', 'fortran_order': False, 'shape': (2,), }" + b" " * 50 + b"\n",
            "UPPER.WAV": b"RIFF\x00\x00"}


def test_every_bad_prime_is_a_clear_error(tmp_path):
    from convert.runtime.audio import read_samples

    for name, data in _bad_primes().items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError) as caught:
            read_samples(str(path))
        assert str(caught.value), name
    (tmp_path / "good.WAV").write_bytes(_wav_bytes(10))
    assert read_samples(str(tmp_path / "good.WAV")).shape == (10, 1)  # .WAV is a wav, not read as .npy
    (tmp_path / "mono8.wav").write_bytes(_wav_bytes(width=1))  # 8-bit PCM: through soundfile when installed
    try:
        import soundfile  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="only 16-bit PCM"):
            read_samples(str(tmp_path / "mono8.wav"))
    else:
        assert read_samples(str(tmp_path / "mono8.wav")).shape == (100, 1)


def test_the_prime_fuzz_never_raises_anything_but_value_errors(tmp_path):
    """1,200 prime files: valid ones cut, flipped and spliced at random."""
    import random

    import numpy as np

    from convert.runtime.audio import read_samples

    rng = random.Random(7)
    seeds = [_wav_bytes(50), _wav_bytes(20, channels=2), _npy_bytes(np.zeros((30, 2), np.float32)),
             _npy_bytes(np.arange(40, dtype=np.int16))] + list(_bad_primes().values())
    for i in range(1200):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(0, 3)):
            if data and rng.random() < 0.5:
                data[rng.randrange(len(data))] = rng.randrange(256)
            else:
                data = data[: rng.randint(0, len(data))]
        path = tmp_path / f"p{i}.{rng.choice(['npy', 'wav', 'WAV'])}"
        path.write_bytes(bytes(data))
        try:
            samples = read_samples(str(path))
        except ValueError as error:
            assert str(error)
        else:
            assert samples.size and np.all(np.isfinite(samples))
        path.unlink()


def test_the_model_file_fuzz_gives_model_file_errors(tmp_path):
    """400 model files: empty, text, folders, and a real .keras cut and flipped at random."""
    import random

    keras = pytest.importorskip("keras")
    from convert import api

    spec = tmp_path / "s.yaml"
    spec.write_text(GOOD)
    good = tmp_path / "good.keras"
    api.practice_model(str(spec)).save(good)
    data = good.read_bytes()
    rng = random.Random(3)
    messages = set()
    for i in range(400):
        mutated = bytearray(data)
        if i % 4 == 0:
            mutated = mutated[: rng.randint(0, len(mutated))]
        for _ in range(rng.randint(1, 4)):
            if mutated:
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        path = tmp_path / f"m{i}.keras"
        path.write_bytes(bytes(mutated))
        try:
            api.load_model(path)
        except api.ModelFileError as error:
            messages.add(str(error).split(": ", 1)[1][:40])
            assert "File not found" not in str(error)
        path.unlink()
    assert keras and messages  # the damaged files were refused, each with a reason


@pytest.mark.parametrize("content, says", [(b"", "empty"), (b"not a zip", "not a .keras zip archive"),
                                           (None, "is a folder")])
def test_model_files_that_are_not_models(tmp_path, content, says):
    pytest.importorskip("keras")
    from convert import api

    path = tmp_path / "m.keras"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(api.ModelFileError, match=says):
        api.load_model(path)


def test_an_inflated_config_is_refused_before_parsing(tmp_path, monkeypatch):
    import zipfile

    pytest.importorskip("keras")
    from convert import api
    from convert.importers import keras as keras_import

    monkeypatch.setattr(keras_import, "MAX_CONFIG_BYTES", 1000)
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", "{" + " " * 5000 + "}")
    with pytest.raises(api.ModelFileError, match="refusing to load it"):
        api.load_model(path)


def test_the_option_fuzz_gives_usage_errors_only():
    """400 generate command lines with values drawn from the edges of each option's range: each is parsed
    or refused with a usage error, never an internal error."""
    import random

    import click

    rng = random.Random(11)
    values = {"--steps": ["0", "-1", "1", "10", str(2**70), "x", "1e3"],
              "--seed": ["0", "-1", str(2**32), str(2**63 - 1), str(2**64), "nan", "1.5"],
              "--temperature": ["0", "-1", "nan", "inf", "0.02", "1", "1e-300", "x"],
              "--sample-rate": ["0", "1", str(2**32 - 1), str(2**32), "-5", "44100"]}
    command = main.get_command(None, "generate")
    for _ in range(400):
        args = ["spec.yaml", "model.keras", "-o", "out.npy"]
        for option, choices in values.items():
            if rng.random() < 0.8:
                args += [option, rng.choice(choices)]
        try:
            command.make_context("generate", args)
        except click.UsageError:
            pass


def test_generation_options_are_checked(tmp_path):
    pytest.importorskip("keras")
    import numpy as np

    from convert import api
    from conftest import randomize

    spec = tmp_path / "mulaw.yaml"
    spec.write_text(MULAW)
    model = api.practice_model(str(spec))
    randomize(model, 1)
    model.save(tmp_path / "mulaw.keras")
    runner = CliRunner()

    def run(*options):
        return runner.invoke(main, ["generate", str(spec), str(tmp_path / "mulaw.keras"), "--steps", "40",
                                    "-o", str(tmp_path / "out.npy"), *options])

    outputs = {}
    for seed in ("0", str(2**32)):  # seeds past 32 bits are seeds of their own
        assert run("--seed", seed).exit_code == 0
        outputs[seed] = np.load(tmp_path / "out.npy")
    assert not np.array_equal(outputs["0"], outputs[str(2**32)])
    assert run("--seed", str(2**64)).exit_code == 2
    assert run("--temperature", "nan").exit_code == 2
    assert run("--sample-rate", str(2**32)).exit_code == 2
    assert run("--temperature", "0.02").exit_code == 0
    assert not np.all(np.load(tmp_path / "out.npy") == -1.0)  # not level 0 by underflow
    result = runner.invoke(main, ["generate", str(spec), str(tmp_path / "mulaw.keras"), "--steps", "4",
                                  "-o", str(tmp_path / "missing" / "out.npy")])
    assert result.exit_code == 2 and "is not a folder causalc can write into" in result.output
    bad = tmp_path / "nan.npy"
    bad.write_bytes(_npy_bytes(np.array([0.5, float("nan")], np.float32)))
    result = run("--prime", str(bad))
    assert result.exit_code == 1 and "NaN or infinity" in result.output


def test_a_model_of_another_spec_is_refused_by_its_weight_map(tmp_path):
    pytest.importorskip("keras")
    spec = os.path.join(ROOT, "specs", "dense-four.yaml")
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    other = tmp_path / "other.yaml"
    other.write_text(open(spec, encoding="utf-8").read().replace("units: 1}", "units: 1, activation: tanh}"))
    result = CliRunner().invoke(main, ["to-step", str(other), str(tmp_path / "dense-four.keras"), "-o",
                                       str(tmp_path / "step.keras")])
    assert result.exit_code == 1 and "was compiled from another spec" in result.output


def test_state_names_never_collide():
    pytest.importorskip("tensorflow")
    from convert.runtime.export import tensor_name

    names = ["a.b", "a-b", "a_b", "a__b", "a_2e_b", "ab"]
    assert len({tensor_name(n) for n in names}) == len(names)


def test_generate_refuses_more_steps_than_it_keeps(tmp_path, monkeypatch):
    pytest.importorskip("keras")
    from convert.runtime import audio

    spec = tmp_path / "mulaw.yaml"
    spec.write_text(MULAW)
    assert CliRunner().invoke(main, ["compile", str(spec), "-o", str(tmp_path)]).exit_code == 0
    monkeypatch.setattr(audio, "MAX_SAMPLES", 100)
    result = CliRunner().invoke(main, ["generate", str(spec), str(tmp_path / "mulaw.keras"), "--steps", "101",
                                       "-o", str(tmp_path / "out.npy")])
    assert result.exit_code == 2 and "limit of 100 generated values" in result.output


def test_long_keras_messages_are_cut_at_a_word():
    pytest.importorskip("keras")
    from convert.runtime.api import _shorten

    cut = _shorten("word " * 100, 32)
    assert cut.endswith(" ...") and len(cut) <= 36 and "wor ..." not in cut


def test_from_step_checks_a_weight_map_beside_the_per_step_model(tmp_path):
    pytest.importorskip("keras")
    import shutil

    spec = os.path.join(ROOT, "specs", "dense-four.yaml")
    runner = CliRunner()
    assert runner.invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    assert runner.invoke(main, ["to-step", spec, str(tmp_path / "dense-four.keras"), "-o",
                                str(tmp_path / "step.keras")]).exit_code == 0
    shutil.copy(tmp_path / "dense-four.map.json", tmp_path / "step.map.json")
    assert runner.invoke(main, ["from-step", spec, str(tmp_path / "step.keras"), "-o",
                                str(tmp_path / "back.keras")]).exit_code == 0
    other = tmp_path / "other.yaml"
    other.write_text(open(spec, encoding="utf-8").read().replace("units: 1}", "units: 1, activation: tanh}"))
    result = runner.invoke(main, ["from-step", str(other), str(tmp_path / "step.keras"), "-o",
                                  str(tmp_path / "back2.keras")])
    assert result.exit_code == 1 and "was compiled from another spec" in result.output
