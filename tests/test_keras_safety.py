"""Limits and safety of the commands that run models: training that diverges stops with its last good
checkpoint, checkpoints are checked before they are trusted, every size is refused before it is
allocated, logs and checkpoints are regular files, a full disk is a clear message, and a signal leaves
nothing staged."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT

pytest.importorskip("tensorflow")
from convert.cli import main  # noqa: E402

CAUSALC = [sys.executable, "-m", "convert"]
ENV = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
TINY = """name: tiny
input: {channels: 1, window: 8}
layers:
  - {type: Conv1D, filters: 4, kernel_size: 2, strides: 2, activation: relu}
  - {type: Flatten}
  - {type: Dense, units: 1}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small regression spec, a signal for it and a checkpoint after step 2 of a run of 4."""
    folder = tmp_path_factory.mktemp("tiny")
    spec = folder / "tiny.yaml"
    spec.write_text(TINY)
    signal_path = folder / "sig.npy"
    np.save(signal_path, np.sin(np.arange(2000) / 7).astype(np.float32))
    from convert import api
    from convert.runtime.training_run import Run

    class Stop(Exception):
        pass

    def stop(record):
        if record["step"] == 2:
            raise Stop

    run = Run(api.load(str(spec)), [str(signal_path)], str(folder / "m.keras"), steps=4, batch_size=2, length=16,
              lr=1e-3, seed=0, checkpoint_every=2)
    with pytest.raises(Stop):
        run.train(stop)
    checkpoint = folder / "m.keras.checkpoint.npz"
    assert checkpoint.exists()
    return {"spec": str(spec), "signal": str(signal_path), "checkpoint": dict(np.load(checkpoint)), "folder": folder}


def _train(tiny, out, *extra, env=None):
    return CliRunner().invoke(main, ["train", tiny["spec"], tiny["signal"], "-o", str(out), "--batch-size", "2",
                                     "--length", "16", *extra], env=env)


def _clean(result, out, message):
    assert result.exit_code == 1 and message in result.output, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert not os.path.exists(out)


def test_a_diverging_run_stops_keeps_its_last_good_checkpoint_and_writes_no_model(tmp_path, tiny):
    out = tmp_path / "m.keras"
    result = _train(tiny, out, "--steps", "30", "--lr", "1e30", "--checkpoint-every", "1", "--log",
                    str(tmp_path / "log.jsonl"))
    _clean(result, out, "training diverged at step")
    assert "smaller --lr" in result.output
    checkpoint = tmp_path / "m.keras.checkpoint.npz"
    if checkpoint.exists():  # the steps before the first non-finite one were finite: their checkpoint stays
        assert "the last checkpoint is" in result.output
        with np.load(checkpoint) as archive:
            assert all(np.isfinite(archive[k]).all() for k in archive.files if k.startswith("v"))
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert all("NaN" not in line and "Infinity" not in line for line in lines)  # no record of the bad step


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(v0=c["v0"] * np.nan), "holds NaN, infinity"),
    (lambda c: c.update(v0=np.zeros((3, 3), np.float32)), "is float32 (3, 3)"),
    (lambda c: c.update(step=np.array(-1)), "its step is -1"),
    (lambda c: c.update(step=np.array(2.5)), "its step is 2.5"),
    (lambda c: c.update(losses=np.array([np.nan, 1.0])), "finite losses"),
    (lambda c: c.pop("v1"), "it is not a checkpoint of this model"),
])
def test_a_checkpoint_is_checked_before_it_is_trusted(tmp_path, tiny, change, message):
    checkpoint = dict(tiny["checkpoint"])
    change(checkpoint)
    if "v1" not in checkpoint:  # arrays renumbered, one fewer
        values = [checkpoint.pop(k) for k in sorted((k for k in checkpoint if k.startswith("v")), key=lambda k: int(k[1:]))]
        checkpoint.update({f"v{i}": v for i, v in enumerate(values)})
    np.savez(tmp_path / "m.keras.checkpoint.npz", **checkpoint)
    _clean(_train(tiny, tmp_path / "m.keras", "--steps", "4", "--resume"), tmp_path / "m.keras", message)


def test_a_checkpoint_past_the_steps_asked_for_is_refused(tmp_path, tiny):
    np.savez(tmp_path / "m.keras.checkpoint.npz", **tiny["checkpoint"])
    result = _train(tiny, tmp_path / "m.keras", "--steps", "2", "--resume")
    _clean(result, tmp_path / "m.keras", "give --steps more than 2")
    result = _train(tiny, tmp_path / "m.keras", "--steps", "4", "--resume")  # the same checkpoint, resumed
    assert result.exit_code == 0 and "4 steps" in result.output, result.output


def test_logs_and_checkpoints_that_are_not_regular_files_are_refused(tmp_path, tiny):
    os.mkfifo(tmp_path / "fifo")
    _clean(_train(tiny, tmp_path / "m.keras", "--steps", "2", "--log", str(tmp_path / "fifo")), tmp_path / "m.keras",
           "is a FIFO")
    os.mkfifo(tmp_path / "m.keras.checkpoint.npz")
    _clean(_train(tiny, tmp_path / "m.keras", "--steps", "2", "--resume"), tmp_path / "m.keras", "is a FIFO")
    _clean(_train(tiny, tmp_path / "n.keras", "--steps", "2", "--log", "/dev/full"), tmp_path / "n.keras",
           "not a regular file")


def _limited(size: int):
    """A child whose files may grow to `size` bytes: past it a write fails with EFBIG, as on a full disk."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return limit


@pytest.mark.parametrize("where", ["log", "checkpoint"])
def test_a_disk_filling_mid_run_is_a_clear_message(tmp_path, tiny, where):
    out = tmp_path / "m.keras"
    args = ["train", tiny["spec"], tiny["signal"], "-o", str(out), "--batch-size", "2", "--length", "16",
            "--steps", "400"]
    if where == "log":
        args += ["--log", str(tmp_path / "log.jsonl"), "--checkpoint-every", "1000"]
        size = 3000  # a few dozen records
    else:
        args += ["--checkpoint-every", "10"]
        size = 1000  # under one checkpoint's size
    result = subprocess.run(CAUSALC + args, env=ENV, capture_output=True, text=True, timeout=300,
                            preexec_fn=_limited(size))
    assert result.returncode == 1, result.stderr
    assert f"cannot write the {where}" in result.stderr and "Traceback" not in result.stderr
    assert "internal error" not in result.stderr and not out.exists()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".causalc-")] == []


def test_a_training_batch_past_the_memory_limit_is_refused_before_allocating(tmp_path, tiny):
    started = time.monotonic()
    result = CliRunner().invoke(main, ["train", tiny["spec"], tiny["signal"], "-o", str(tmp_path / "m.keras"),
                                       "--batch-size", "20000000", "--steps", "2"])
    _clean(result, tmp_path / "m.keras", "a training step on 20,000,000 crop(s)")
    assert "--max-memory" in result.output and time.monotonic() - started < 60
    result = CliRunner().invoke(main, ["--max-memory", "64k", "train", tiny["spec"], tiny["signal"], "-o",
                                       str(tmp_path / "m.keras"), "--batch-size", "64", "--steps", "2"])
    _clean(result, tmp_path / "m.keras", "memory limit of 64 KiB")


def test_an_npz_that_inflates_past_what_is_read_is_refused(tmp_path):
    spec = tmp_path / "two.yaml"
    spec.write_text("name: two\ninputs:\n  - {name: x, channels: 1, window: 8}\n  - {name: c, channels: 2, window: 8}\n"
                    "layers:\n  - {type: Concatenate, inputs: [x, c]}\n  - {type: Conv1D, filters: 1, kernel_size: 8}\n")
    import io

    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, shape in (("x", (300_000_000, 1)), ("c", (300_000_000, 2))):
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
            archive.writestr(name + ".npy", header.getvalue() + bytes(1024))
    result = CliRunner().invoke(main, ["train", str(spec), str(tmp_path / "bomb.npz"), "-o", str(tmp_path / "m.keras"),
                                       "--steps", "2"])
    _clean(result, tmp_path / "m.keras", "declare 900,000,000 values")


@pytest.fixture(scope="module")
def dilated(tmp_path_factory):
    """A lint-clean 3-parameter spec whose one dilation of 2**22 makes a ring of 4M steps per stream."""
    folder = tmp_path_factory.mktemp("dilated")
    spec = folder / "dilated.yaml"
    spec.write_text("name: dilated\ninput: {channels: 1, window: 4194305}\nlayers:\n"
                    "  - {type: Conv1D, filters: 1, kernel_size: 2, dilation_rate: 4194304}\n")
    result = CliRunner().invoke(main, ["compile", str(spec), "-o", str(folder)])
    assert result.exit_code == 0, result.output
    return str(spec), str(folder / "dilated.keras")


def test_a_stream_past_the_memory_limit_is_refused_with_its_figure(tmp_path, dilated):
    spec, model = dilated
    out = tmp_path / "g.npy"
    result = CliRunner().invoke(main, ["generate", spec, model, "--steps", "4", "--batch", "256", "-o", str(out)])
    _clean(result, out, "the stream of 256 sequence(s)")
    assert "over causalc's memory limit of 8 GiB" in result.output
    result = CliRunner().invoke(main, ["generate", spec, model, "--steps", "4", "-o", str(out)])
    assert result.exit_code == 0 and out.exists(), result.output  # one stream: 32 MiB of ring


def test_an_exported_step_past_the_limits_is_refused_before_tensorflow_sees_it(tmp_path, dilated):
    spec, model = dilated
    for fmt in ("saved_model", "onnx"):
        out = tmp_path / fmt
        result = CliRunner().invoke(main, ["export-step", spec, model, "-o", str(out), "--batch-size", "100000000",
                                           "--format", fmt])
        _clean(result, out, "the exported step of 100,000,000 sequence(s)")
    result = CliRunner().invoke(main, ["--max-memory", "100000G", "export-step", spec, model, "-o", str(tmp_path / "x"),
                                       "--batch-size", "1000"])
    _clean(result, tmp_path / "x", "index at most 2**31 - 1")


def test_predict_past_the_memory_limit_is_refused(tmp_path, dilated):
    spec, model = dilated
    np.save(tmp_path / "r.npy", np.zeros((4194305 + 10, 1), np.float32))
    out = tmp_path / "p.npy"
    result = CliRunner().invoke(main, ["--max-memory", "16M", "predict", spec, model, str(tmp_path / "r.npy"),
                                       "-o", str(out)])
    _clean(result, out, "predicting 1 chunk(s)")


def test_a_condition_repeated_for_every_stream_is_bounded(tmp_path):
    vocoder = os.path.join(ROOT, "specs", "vocoder.yaml")
    from convert import api
    from convert.core import limits
    from convert.core.errors import TooLarge
    from convert.runtime.feeds import read_conditions

    np.save(tmp_path / "mel.npy", np.zeros((1000, 80), np.float32))
    np.save(tmp_path / "speaker.npy", np.array(1))
    analysis = api.load(vocoder)
    pairs = (f"mel={tmp_path / 'mel.npy'}", f"speaker={tmp_path / 'speaker.npy'}")
    old = limits.MAX_MEMORY
    limits.MAX_MEMORY = 2**20
    try:
        with pytest.raises(TooLarge, match="the condition mel=.* for 64 streams"):
            read_conditions(analysis, pairs, 255, 64)
    finally:
        limits.MAX_MEMORY = old
    assert read_conditions(analysis, pairs, 255, 2)["mel"].shape == (2, 1000, 80)


def test_import_of_a_weights_only_h5_says_what_it_is(tmp_path):
    import h5py

    with h5py.File(tmp_path / "w.h5", "w") as handle:
        handle.create_dataset("kernel", data=np.zeros(3))
    result = CliRunner().invoke(main, ["import", str(tmp_path / "w.h5"), "-o", str(tmp_path / "s.yaml")])
    _clean(result, tmp_path / "s.yaml", "holds no model configuration (weights only")


@pytest.mark.parametrize("command", [pytest.param("compile", marks=pytest.mark.slow), "train"])
def test_sigterm_removes_what_the_command_staged(tmp_path, tiny, command):
    """The command is stopped once it has staged an output (compile: the model being saved; train: the
    first checkpoint written); what it staged is gone and the exit says so."""
    out = tmp_path / "out"
    out.mkdir()
    if command == "compile":
        args = ["compile", os.path.join(ROOT, "specs", "wavenet.yaml"), "-o", str(out)]
    else:
        args = ["train", tiny["spec"], tiny["signal"], "-o", str(out / "m.keras"), "--batch-size", "2", "--length",
                "16", "--steps", "1000000", "--checkpoint-every", "5"]
    process = subprocess.Popen(CAUSALC + args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120

    def staged():
        return [n for n in os.listdir(out) if n.startswith(".causalc-") or n.endswith(".checkpoint.npz")]

    while not staged() and time.time() < deadline and process.poll() is None:
        time.sleep(0.005)
    assert staged(), process.communicate()[1]
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    if process.returncode == 0:  # it finished before the signal arrived: nothing to check
        pytest.skip("the command finished before the signal")
    assert process.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in err, err
    assert [n for n in os.listdir(out) if n.startswith(".causalc-")] == []
    assert not (out / "wavenet.keras").exists() and not (out / "m.keras").exists()


def test_an_output_staged_over_a_fifo_is_refused_not_replaced(tmp_path):
    from convert.backends.write import atomic_files
    from convert.core.errors import NotRegular

    fifo = tmp_path / "out.npy"
    os.mkfifo(fifo)
    with pytest.raises(NotRegular):
        with atomic_files(str(tmp_path)) as new:
            new(str(fifo))
    assert fifo.is_fifo() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".causalc-")] == []
