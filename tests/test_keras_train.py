"""`causalc train`: targets from the spec, the warm-up left out, checkpoints that resume exactly after a
SIGKILL, two worker processes on 127.0.0.1 that match one process step by step, and bad input that gets a
clear error and no model file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT

pytest.importorskip("tensorflow")
STRIDED = os.path.join(ROOT, "specs", "strided-stack.yaml")  # regression: the next sample
CAUSALC = [sys.executable, "-m", "convert"]
ENV = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _signal(path, steps=6000, seed=0, channels=None):
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    value = 0.6 * np.sin(t * 0.05) + 0.3 * np.sin(t * 0.31) + 0.05 * rng.normal(size=steps)
    np.save(path, (value if channels is None else np.repeat(value[:, None], channels, 1)).astype(np.float32))
    return str(path)


def _losses(path) -> dict:
    out = {}
    for line in open(path, encoding="utf-8"):
        record = json.loads(line)
        out[record["step"]] = record["loss"]  # a resumed run repeats the steps after its checkpoint
    return out


def _free_port() -> int:
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


def _kill_when(process: subprocess.Popen, ready) -> None:
    """SIGKILL the process as soon as `ready()` holds (at most two minutes from now)."""
    deadline = time.time() + 120
    while time.time() < deadline and not ready():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _weights(path):
    from convert import api

    return api.load_model(str(path)).get_weights()


def _run(args, **kwargs):
    return subprocess.run(CAUSALC + args, capture_output=True, text=True, env=ENV, cwd=ROOT, **kwargs)


def _start(args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(CAUSALC + args, env=ENV, cwd=ROOT, **kwargs)


def test_training_lowers_the_loss_and_the_model_works_with_every_command(tmp_path):
    from convert.cli import main

    data = _signal(tmp_path / "train.npy")
    valid = _signal(tmp_path / "valid.npy", 3000, seed=1)
    out = tmp_path / "model.keras"
    result = CliRunner().invoke(main, ["train", STRIDED, data, "-o", str(out), "--steps", "60", "--batch-size", "8",
                                       "--validation", valid, "--checkpoint-every", "20", "--log",
                                       str(tmp_path / "log.jsonl"), "--lr", "0.003"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    assert [r["step"] for r in records] == list(range(60))
    assert np.mean([r["loss"] for r in records[-10:]]) < 0.5 * np.mean([r["loss"] for r in records[:5]])
    assert [r["step"] for r in records if "validation_loss" in r] == [19, 39, 59]
    assert all(r["predictions_per_second"] > 0 for r in records)
    assert not (tmp_path / "model.keras.checkpoint.npz").exists()  # a finished run leaves only its model
    for command in (["to-step", STRIDED, str(out), "-o", str(tmp_path / "step.keras")],
                    ["generate", STRIDED, str(out), "--steps", "20", "-o", str(tmp_path / "g.npy")],
                    ["export-step", STRIDED, str(out), "-o", str(tmp_path / "export"), "--no-tflite"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 0, (command, result.output)


def test_targets_and_warmup_follow_the_spec(tmp_path):
    """The loss the trainer reports is the mean over the steps after W-1 of the spec's own target: checked
    against the practice model computed here, for a mu-law output, a categorical signal and a regression."""
    import keras

    from convert import api
    from convert.pipeline import check
    from convert.runtime import training
    from convert.runtime.mulaw import mu_law_encode

    for name in ("wavenet", "wavenet-embedding", "strided-stack"):
        path = os.path.join(ROOT, "specs", f"{name}.yaml")
        analysis = check(path).analysis
        signal = np.load(_signal(tmp_path / "s.npy", 3 * analysis.window))
        if name == "wavenet-embedding":
            np.save(tmp_path / "s.npy", mu_law_encode(signal).astype(np.int32))
        data = training.Data(analysis, [str(tmp_path / "s.npy")], 2 * analysis.window)
        keras.utils.set_random_seed(0)
        model = api.practice_model(analysis)
        trainer = training.Trainer(model, data, 2, 1e-9, seed=5)
        inputs, targets, weights = data.batch(data.crops(5, 0, 2))
        out = np.asarray(model(inputs[0]), np.float64)
        raw = np.load(tmp_path / "s.npy")
        (i0, s0), _ = data.crops(5, 0, 2)
        following = raw[s0 + 1:s0 + 1 + data.length]
        if name == "wavenet":
            np.testing.assert_array_equal(targets[0], mu_law_encode(following))
        else:
            np.testing.assert_array_equal(targets[0], following if name != "strided-stack" else following[:, None])
        assert weights[:, :analysis.window - 1].sum() == 0 and weights[:, analysis.window - 1:].min() == 1
        if name == "strided-stack":
            per_step = np.mean((out - targets) ** 2, axis=-1)
        else:
            per_step = -np.log(np.clip(np.take_along_axis(out, targets[..., None], -1)[..., 0], 1e-7, 1))
        want = float((per_step * weights).sum() / weights.sum())
        assert abs(trainer.step(0) - want) < 1e-4 * max(1.0, abs(want)), name


def test_a_conditioned_spec_trains_from_npz(tmp_path):
    from convert.cli import main

    rng = np.random.default_rng(0)
    for i in range(2):
        np.savez(tmp_path / f"seq{i}.npz", audio=rng.integers(0, 256, 2000).astype(np.int32),
                 mel=rng.normal(size=(2000 // 256 + 1, 80)).astype(np.float32), speaker=np.array(i))
    out = tmp_path / "vocoder.keras"
    result = CliRunner().invoke(main, ["train", os.path.join(ROOT, "specs", "vocoder.yaml"), str(tmp_path / "seq0.npz"),
                                       str(tmp_path / "seq1.npz"), "-o", str(out), "--steps", "3", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    np.savez(tmp_path / "short.npz", audio=rng.integers(0, 256, 2000).astype(np.int32),
             mel=rng.normal(size=(3, 80)).astype(np.float32), speaker=np.array(0))
    result = CliRunner().invoke(main, ["train", os.path.join(ROOT, "specs", "vocoder.yaml"), str(tmp_path / "short.npz"),
                                       "-o", str(tmp_path / "bad.keras"), "--steps", "3"])
    assert result.exit_code == 1 and "`mel` has 3 frame(s); steps 0 to 1,999 need 8" in result.output
    assert not (tmp_path / "bad.keras").exists()
    result = CliRunner().invoke(main, ["train", os.path.join(ROOT, "specs", "vocoder.yaml"), str(tmp_path / "none.npz"),
                                       "-o", str(tmp_path / "bad.keras"), "--steps", "3"])
    assert result.exit_code == 1 and "cannot read" in result.output and "none.npz" in result.output
    assert not (tmp_path / "bad.keras").exists()


def test_log_softmax_loss_is_read_from_the_spec_not_the_last_keras_layer(tmp_path):
    """In exact warm-up with a window past the receptive field, the practice model ends in a crop: the loss
    still treats the output as log-probabilities, as the spec says."""
    from convert import api
    from convert.pipeline import check
    from convert.runtime import training

    path = tmp_path / "log.yaml"
    path.write_text("input: {channels: 1, window: 12}\nlayers:\n  - {type: Conv1D, name: a, filters: 1, kernel_size: 3}\n"
                    "  - {type: MaxPool1D, name: b, inputs: input}\n  - {type: Concatenate, name: both, inputs: [b, a]}\n"
                    "  - {type: Flatten, name: flat}\n  - {type: Dense, name: out, units: 16, activation: log_softmax}\n")
    analysis = check(str(path)).analysis
    assert analysis.receptive_field < analysis.window
    signal = _signal(tmp_path / "s.npy", 200)
    data = training.Data(analysis, [signal], 40)
    model = api.practice_model(analysis, "exact")
    assert model.layers[-1].name == "warmup_crop"
    trainer = training.Trainer(model, data, 2, 1e-9, seed=1)
    inputs, targets, weights = data.batch(data.crops(1, 0, 2))
    logp = np.take_along_axis(np.asarray(model(inputs[0]), np.float64), targets[..., None], -1)[..., 0]
    want = float(-(logp * weights).sum() / weights.sum())
    assert abs(trainer.step(0) - want) < 1e-4 * max(1.0, abs(want))


def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path):
    from convert.cli import main

    good = _signal(tmp_path / "good.npy")
    np.save(tmp_path / "short.npy", np.zeros(10, np.float32))
    nan = np.zeros(500, np.float32)
    nan[7] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    (tmp_path / "text.npy").write_text("not an array")
    cases = [([str(tmp_path / "missing.npy")], "cannot read"),
             ([str(tmp_path / "text.npy")], "not a .npy file"),
             ([str(tmp_path / "short.npy")], "the signal has 10 steps; crops of --length"),
             ([str(tmp_path / "nan.npy")], "NaN"),
             ([good, "--length", "3"], "shorter than the window"),
             ([good, "--batch-size", "3", "--cluster", "127.0.0.1:1,127.0.0.1:2", "--worker-index", "0"],
              "do not split among 2 workers"),
             ([good, "--cluster", "nohost", "--worker-index", "0"], "HOST:PORT"),
             ([good, "--worker-index", "1"], "--worker-index needs --cluster")]
    for args, message in cases:
        out = tmp_path / "m.keras"
        result = CliRunner().invoke(main, ["train", STRIDED, *args, "-o", str(out), "--steps", "2"])
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output, (args, result.output)
        assert not out.exists()
    flat = os.path.join(ROOT, "specs", "flatten-head.yaml")  # a 10-class classifier: nothing to predict next
    result = CliRunner().invoke(main, ["train", flat, good, "-o", str(tmp_path / "f.keras")])
    assert result.exit_code == 1 and "cannot feed the output back" in result.output


def test_a_worker_that_meets_nobody_gives_up_in_time(tmp_path):
    data = _signal(tmp_path / "train.npy")
    start = time.perf_counter()
    result = _run(["train", STRIDED, data, "-o", str(tmp_path / "m.keras"), "--steps", "2", "--cluster",
                   f"127.0.0.1:{_free_port()},127.0.0.1:{_free_port()}", "--worker-index", "0", "--timeout", "2"],
                  timeout=120)
    assert result.returncode != 0 and "did not all meet within 2 s" in result.stderr
    assert time.perf_counter() - start < 60
    assert not (tmp_path / "m.keras").exists()


@pytest.mark.slow
def test_resume_after_sigkill_continues_exactly(tmp_path):
    data = _signal(tmp_path / "train.npy")
    common = [STRIDED, data, "--steps", "150", "--batch-size", "8", "--checkpoint-every", "10"]
    whole = _run(["train", *common, "-o", str(tmp_path / "whole.keras"), "--log", str(tmp_path / "whole.jsonl")])
    assert whole.returncode == 0, whole.stderr
    log = tmp_path / "cut.jsonl"
    process = _start(["train", *common, "-o", str(tmp_path / "cut.keras"), "--log", str(log)],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when(process, lambda: (tmp_path / "cut.keras.checkpoint.npz").exists() and log.exists()
               and len(log.read_text().splitlines()) >= 25)
    assert not (tmp_path / "cut.keras").exists() and (tmp_path / "cut.keras.checkpoint.npz").exists()
    killed_at = len(log.read_text().splitlines())
    assert 20 <= killed_at < 150
    again = _run(["train", *common, "-o", str(tmp_path / "cut.keras"), "--log", str(log)])
    assert again.returncode == 1 and "--resume" in again.stderr  # never overwritten by accident
    resumed = _run(["train", *common, "-o", str(tmp_path / "cut.keras"), "--log", str(log), "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert _losses(log) == _losses(tmp_path / "whole.jsonl")
    for a, b in zip(_weights(tmp_path / "whole.keras"), _weights(tmp_path / "cut.keras")):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_two_workers_match_one_process(tmp_path):
    data = _signal(tmp_path / "train.npy")
    common = [STRIDED, data, "--steps", "15", "--batch-size", "8", "--seed", "3"]
    one = _run(["train", *common, "-o", str(tmp_path / "one.keras"), "--log", str(tmp_path / "one.jsonl")])
    assert one.returncode == 0, one.stderr
    cluster = f"127.0.0.1:{_free_port()},127.0.0.1:{_free_port()}"
    workers = [_start(["train", *common, "-o", str(tmp_path / f"w{i}.keras"), "--log", str(tmp_path / f"w{i}.jsonl"),
                       "--cluster", cluster, "--worker-index", str(i), "--timeout", "60"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
    assert (tmp_path / "w0.keras").exists() and not (tmp_path / "w1.keras").exists()  # worker 0 writes
    assert not (tmp_path / "w1.jsonl").exists()
    one_losses, two_losses = _losses(tmp_path / "one.jsonl"), _losses(tmp_path / "w0.jsonl")
    assert sorted(one_losses) == sorted(two_losses) == list(range(15))
    for step in one_losses:
        assert abs(one_losses[step] - two_losses[step]) < 1e-4
    for a, b in zip(_weights(tmp_path / "one.keras"), _weights(tmp_path / "w0.keras")):
        assert np.max(np.abs(a - b)) <= 1e-4 * max(1.0, float(np.max(np.abs(a))))


@pytest.mark.slow
def test_workers_resuming_from_different_steps_stop_together(tmp_path):
    """Worker 0 finds a checkpoint and worker 1 (another -o folder) none: both say so instead of running
    collectives that no longer pair up."""
    data = _signal(tmp_path / "train.npy")
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    common = [STRIDED, data, "--steps", "2000", "--batch-size", "8", "--checkpoint-every", "5"]
    process = _start(["train", *common, "-o", str(tmp_path / "a" / "m.keras")], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    _kill_when(process, (tmp_path / "a" / "m.keras.checkpoint.npz").exists)
    cluster = f"127.0.0.1:{_free_port()},127.0.0.1:{_free_port()}"
    workers = [_start(["train", *common, "-o", str(tmp_path / folder / "m.keras"), "--resume", "--cluster", cluster,
                       "--worker-index", str(i), "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      text=True) for i, folder in enumerate("ab")]
    for worker in workers:
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 1 and "would resume from different steps" in err, err
    assert not (tmp_path / "a" / "m.keras").exists() and not (tmp_path / "b" / "m.keras").exists()


def test_crops_of_a_hop_input_match_the_whole_recording(tmp_path):
    """A spec with a hop input (frames every 3 steps), globals and a categorical sequence: every crop a
    batch draws gives, at each step past the window, the practice output of the whole recording at that
    step (crops start on a frame and carry the frame of their last step), and targets the next sample."""
    import keras

    from conftest import randomize
    from convert import api
    from convert.cli import main
    from convert.runtime import training

    spec = os.path.join(ROOT, "tests", "specs", "conditioned.yaml")
    analysis = api.load(spec)
    steps, rng = 400, np.random.default_rng(2)
    arrays = {"signal": rng.normal(size=(steps, 2)).astype(np.float32),
              "frames": rng.normal(size=(steps // 3 + 1, 3)).astype(np.float32),
              "style": rng.normal(size=(2,)).astype(np.float32), "speaker": np.array(1),
              "phone": rng.integers(0, 5, steps).astype(np.int32)}
    np.savez(tmp_path / "seq.npz", **arrays)
    window = analysis.window
    for length in (window + 5, window + 6, window + 7):  # every remainder of the crop length by the hop
        data = training.Data(analysis, [str(tmp_path / "seq.npz")], length)
        keras.utils.set_random_seed(0)
        model = api.practice_model(analysis)
        randomize(model, 4)
        whole = np.asarray(model([arrays[node.name][None] for node in analysis.spec.inputs]))[0]
        crops = [crop for step in range(6) for crop in data.crops(7, step, 4)]
        inputs, targets, _ = data.batch(crops)
        got = np.asarray(model(inputs))
        for b, (_, start) in enumerate(crops):
            np.testing.assert_allclose(got[b, window - 1:], whole[start + window - 1:start + length], rtol=1e-4,
                                       atol=1e-5, err_msg=f"crop at {start}, length {length}")
            np.testing.assert_array_equal(targets[b], arrays["signal"][start + 1:start + length + 1])
    result = CliRunner().invoke(main, ["train", spec, str(tmp_path / "seq.npz"), "-o", str(tmp_path / "m.keras"),
                                       "--steps", "2", "--batch-size", "2", "--length", str(window + 4)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.keras").exists() and not (tmp_path / "m.keras.checkpoint.npz").exists()


def test_a_checkpoint_records_the_next_step_and_resuming_repeats_none(tmp_path):
    """Interrupted after step 3 of 6 (checkpoints every 2), the checkpoint says step 2 is next; resumed, the
    run's losses and weights are those of a run never interrupted."""
    from convert import api
    from convert.runtime.training_run import Run

    analysis = api.load(STRIDED)
    data = _signal(tmp_path / "s.npy", 3000)
    options = dict(steps=6, batch_size=4, length=2 * analysis.window, lr=1e-3, seed=1, checkpoint_every=2)
    whole = Run(analysis, [data], str(tmp_path / "whole.keras"), **options)
    want = list(whole.train())

    class Stop(Exception):
        pass

    def stop_after_third(record):
        if record["step"] == 3:
            raise Stop

    cut = Run(analysis, [data], str(tmp_path / "cut.keras"), **options)
    with pytest.raises(Stop):
        cut.train(stop_after_third)
    with np.load(tmp_path / "cut.keras.checkpoint.npz") as archive:
        assert int(archive["step"]) == 4 and len(archive["losses"]) == 4  # steps 0..3 done: 4 is next
    resumed = Run(analysis, [data], str(tmp_path / "cut.keras"), resume=True, **options)
    assert resumed.first == 4
    assert resumed.train() == want
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
