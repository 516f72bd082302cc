"""Batched generation: N independent streams at once, each with its own seed (SEED + i), prime and
conditioning; `causalc generate --batch N` writes them as one array or one file per stream."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import MULAW, ROOT, SMALL_VOCODER, compiled, output_bias, randomize

tf = pytest.importorskip("tensorflow")
WAVENET = os.path.join(ROOT, "specs", "wavenet.yaml")


def _uniform_levels(tmp_path):
    """A 16-level model whose softmax is uniform whatever it reads: a level depends only on the stream's
    random number, so the draws of a stream can be compared across batch sizes exactly."""
    from convert import api

    path = tmp_path / "uniform.yaml"
    path.write_text("input: {channels: 1}\nlayers:\n  - {type: Conv1D, name: c, filters: 4, kernel_size: 2, dilation_rate: 1}\n"
                    "  - {type: Conv1D, name: levels, filters: 16, kernel_size: 1, activation: softmax}\n")
    model = api.practice_model(path)
    randomize(model, 2)
    output_bias(model, np.zeros(16))
    return path, model


def test_each_stream_draws_from_its_own_seed(tmp_path):
    from convert.runtime.stream import StreamingModel

    path, model = _uniform_levels(tmp_path)
    stream = StreamingModel(model, path)
    stream.reset(4)
    together = stream.generate(1500, seed=7)  # more than one chunk of 1,024 steps
    assert together.shape == (4, 1500, 1)
    for b in range(4):
        stream.reset(1)  # the same stream at batch 1, seeded SEED + b
        np.testing.assert_array_equal(stream.generate(1500, seed=7 + b)[0], together[b])
    assert len({together[b].tobytes() for b in range(4)}) == 4  # the streams differ
    levels = np.round((np.sign(together) * np.log1p(15 * np.abs(together)) / np.log(16) + 1) / 2 * 15)  # mu-law
    counts = np.bincount(levels.astype(int).ravel(), minlength=16) / levels.size
    np.testing.assert_allclose(counts, 1 / 16, atol=0.01)  # uniform draws, every level
    with pytest.raises(ValueError, match="2\\*\\*63 - batch"):
        stream.reset(4)
        stream.generate(3, seed=2**63 - 2)


def test_streams_of_one_batch_equal_the_same_streams_alone():
    """Regression output fed back: each stream of a batch, with its own prime, is the stream run alone."""
    from convert.runtime.stream import StreamingModel

    path = os.path.join(ROOT, "specs", "strided-stack.yaml")
    stream = StreamingModel(compiled(path)[1], path)
    primes = np.random.default_rng(0).normal(size=(3, 40, 1)).astype(np.float32)
    stream.reset(3)
    stream.run(primes[:, :-1])
    together = stream.generate(300, first=primes[:, -1])
    for b in range(3):
        stream.reset(1)
        stream.run(primes[b:b + 1, :-1])
        alone = stream.generate(300, first=primes[b:b + 1, -1])
        np.testing.assert_allclose(alone[0], together[b], rtol=1e-5, atol=1e-6)


def test_a_stream_generates_at_one_batch_size_then_another():
    """The compiled loop belongs to its batch size: resetting to another compiles another."""
    from convert.runtime.stream import StreamingModel

    stream = StreamingModel(compiled(WAVENET)[1], WAVENET)
    for batch in (1, 5, 1):
        stream.reset(batch)
        assert stream.generate(20, seed=1).shape == (batch, 20, 1)


def _small_mu_law(folder) -> str:
    """A two-layer mu-law spec: the command's batching, seeding and files do not depend on the network."""
    path = folder / "mulaw.yaml"
    path.write_text(MULAW)
    return str(path)


def test_generate_command_writes_every_stream(tmp_path):
    from convert.cli import main

    runner = CliRunner()
    spec = _small_mu_law(tmp_path)
    assert runner.invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    model = str(tmp_path / "mulaw.keras")
    prime = tmp_path / "prime.npy"
    np.save(prime, np.sin(np.arange(50) / 5.0).astype(np.float32))
    base = ["generate", spec, model, "--steps", "30", "--seed", "3", "--prime", str(prime)]
    result = runner.invoke(main, base + ["--batch", "3", "-o", str(tmp_path / "all.npy")])
    assert result.exit_code == 0, result.output
    assert "3 streams of 30 samples" in result.output
    together = np.load(tmp_path / "all.npy")
    assert together.shape == (3, 30, 1)
    result = runner.invoke(main, base + ["--batch", "3", "-o", str(tmp_path / "s-{i}.npy")])
    assert result.exit_code == 0, result.output
    for i in range(3):
        np.testing.assert_array_equal(np.load(tmp_path / f"s-{i}.npy"), together[i])
    result = runner.invoke(main, ["generate", spec, model, "--steps", "30", "--seed", "5", "--prime", str(prime),
                                  "-o", str(tmp_path / "alone.npy")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "alone.npy"), together[2], atol=1e-6)  # stream 2 is seed 3 + 2
    result = runner.invoke(main, base + ["--batch", "2", "-o", str(tmp_path / "w-{i}.wav")])
    assert result.exit_code == 0 and (tmp_path / "w-0.wav").is_file() and (tmp_path / "w-1.wav").is_file()


def test_generate_command_batch_errors_write_nothing(tmp_path):
    from convert.cli import main

    runner = CliRunner()
    spec = _small_mu_law(tmp_path)
    assert runner.invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    model = str(tmp_path / "mulaw.keras")
    short, long_ = tmp_path / "short.npy", tmp_path / "long.npy"
    np.save(short, np.zeros(10, np.float32))
    np.save(long_, np.zeros(12, np.float32))
    base = ["generate", spec, model, "--steps", "5", "--batch", "2"]
    cases = [
        (["-o", str(tmp_path / "x.wav")], 2, "a .wav holds one stream"),
        (["--prime", str(short)] * 3 + ["-o", str(tmp_path / "x.npy")], 2, "one per stream (2); received 3"),
        (["--prime", str(short), "--prime", str(long_), "-o", str(tmp_path / "x.npy")], 1, "must have one length"),
        (["--seed", str(2**63 - 1), "-o", str(tmp_path / "x.npy")], 2, "at most 2**63 - 2"),
    ]
    for extra, code, message in cases:
        result = runner.invoke(main, base + extra)
        assert result.exit_code == code and message in result.output, (extra, result.output)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".wav", ".npy")) == ["long.npy", "short.npy"]


def test_conditions_for_every_stream_or_one_each(tmp_path):
    """A condition file without a batch axis serves every stream; with a leading axis of N, one each."""
    from convert.cli import main

    path = str(tmp_path / "small-vocoder.yaml")  # vocoder.yaml's inputs over a small network
    (tmp_path / "small-vocoder.yaml").write_text(SMALL_VOCODER)
    runner = CliRunner()
    assert runner.invoke(main, ["compile", path, "-o", str(tmp_path)]).exit_code == 0
    model = str(tmp_path / "small-vocoder.keras")
    rng = np.random.default_rng(1)
    mel = rng.normal(size=(2, 80)).astype(np.float32)
    np.save(tmp_path / "mel.npy", mel)
    np.save(tmp_path / "mels.npy", np.stack([mel, rng.normal(size=(2, 80)).astype(np.float32)]))
    np.save(tmp_path / "speaker.npy", np.array(1, np.int32))
    np.save(tmp_path / "speakers.npy", np.array([1, 3], np.int32))
    base = ["generate", path, model, "--steps", "200", "--batch", "2", "--seed", "0"]

    def run(mel_file, speaker_file, out):
        result = runner.invoke(main, base + ["--condition", f"mel={tmp_path / mel_file}", "--condition",
                                             f"speaker={tmp_path / speaker_file}", "-o", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
        return np.load(tmp_path / out)

    shared = run("mel.npy", "speaker.npy", "shared.npy")
    own = run("mels.npy", "speakers.npy", "own.npy")
    assert shared.shape == own.shape == (2, 200)
    np.testing.assert_array_equal(own[0], shared[0])  # stream 0 has the shared values in both runs
    assert not np.array_equal(own[1], shared[1])
    result = runner.invoke(main, base + ["--condition", f"mel={tmp_path / 'mels.npy'}", "--condition",
                                         f"speaker={tmp_path / 'speakers.npy'}", "--batch", "3",
                                         "-o", str(tmp_path / "bad.npy")])
    assert result.exit_code == 1 and "or (3, ...) for one per stream" in result.output
    assert not (tmp_path / "bad.npy").exists()
