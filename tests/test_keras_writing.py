"""Outputs under faults: committed as a set or not at all, folders in the way, read-only outputs, a
full disk, writers sharing a folder, no start-up chatter. Each test pins one finding of a hardening review."""

from __future__ import annotations

import os
import stat

import pytest
from click.testing import CliRunner

from conftest import MULAW, ROOT
from convert.cli import main


GOOD = "input: {channels: 1, window: 4}\nlayers:\n  - {type: Flatten, name: f}\n  - {type: Dense, name: d, units: 1}\n"

def test_outputs_are_committed_as_a_set(tmp_path, monkeypatch):
    """A failure while the outputs are moved into place puts back what was there."""
    from convert.backends import write

    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("old")
    real_rename = os.rename
    calls = []

    def failing(src, dst):  # the move of the second output into place fails, once
        calls.append(dst)
        if str(dst).endswith("b.txt") and ".causalc-" in str(src) and not str(src).endswith(".old"):
            raise OSError(28, "No space left on device", str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(write.os, "rename", failing)
    with pytest.raises(OSError):
        with write.atomic_files(str(tmp_path)) as new:
            for name in ("a.txt", "b.txt"):
                with open(new(str(tmp_path / name)), "w") as handle:
                    handle.write("new")
    monkeypatch.setattr(write.os, "rename", real_rename)
    assert (tmp_path / "a.txt").read_text() == "old" and (tmp_path / "b.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".causalc.lock", "a.txt", "b.txt"]


def test_a_folder_in_the_way_is_named_and_nothing_is_written(tmp_path):
    pytest.importorskip("keras")
    (tmp_path / "dense-four.map.json").mkdir()
    result = CliRunner().invoke(main, ["compile", os.path.join(ROOT, "specs", "dense-four.yaml"), "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert f"cannot write {tmp_path / 'dense-four.map.json'}: Is a directory" in result.output
    assert not (tmp_path / "dense-four.keras").exists()


def test_recompiling_keeps_a_read_only_output_read_only(tmp_path):
    pytest.importorskip("keras")
    spec = os.path.join(ROOT, "specs", "dense-four.yaml")
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    source = tmp_path / "dense-four.py"
    source.chmod(0o444)
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    assert stat.S_IMODE(source.stat().st_mode) == 0o444


def test_export_step_where_saved_model_is_a_file(tmp_path):
    pytest.importorskip("keras")
    spec = os.path.join(ROOT, "specs", "dense-four.yaml")
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "saved_model").write_text("a file")
    result = CliRunner().invoke(main, ["export-step", spec, str(tmp_path / "dense-four.keras"), "-o",
                                       str(tmp_path / "out"), "--no-tflite"])
    assert result.exit_code == 1 and "saved_model: Not a directory" in result.output
    assert (tmp_path / "out" / "saved_model").read_text() == "a file"


def test_bench_plot_into_a_missing_folder_fails_before_measuring(tmp_path):
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(main, ["bench", os.path.join(ROOT, "specs", "dense-four.yaml"), "--plot",
                                       str(tmp_path / "missing" / "speedup.png")])
    assert result.exit_code == 2 and "is not a folder causalc can write into" in result.output


def test_a_failed_export_leaves_the_previous_one(tmp_path, monkeypatch):
    tf = pytest.importorskip("tensorflow")
    spec = os.path.join(ROOT, "specs", "dense-four.yaml")
    assert CliRunner().invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    model, out = str(tmp_path / "dense-four.keras"), tmp_path / "export"
    assert CliRunner().invoke(main, ["export-step", spec, model, "-o", str(out)]).exit_code == 0
    before = (out / "step.tflite").read_bytes()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_concrete_functions", broken)
    result = CliRunner().invoke(main, ["export-step", spec, model, "-o", str(out)])
    assert result.exit_code == 1
    assert (out / "step.tflite").read_bytes() == before and (out / "saved_model" / "saved_model.pb").exists()
    assert sorted(p.name for p in out.iterdir()) == [".causalc.lock", "initial_state.npz", "saved_model", "spec.yaml", "step.json",
                                                     "step.tflite"]


def test_writers_into_one_folder_take_turns(tmp_path):
    import threading
    import time

    from convert.backends import write

    order = []

    def writer(name: str, pause: float) -> None:
        with write.atomic_files(str(tmp_path)) as new:
            order.append(f"{name} start")
            time.sleep(pause)
            with open(new(str(tmp_path / "out.txt")), "w") as handle:
                handle.write(name)
            order.append(f"{name} end")

    first = threading.Thread(target=writer, args=("first", 0.3))
    first.start()
    time.sleep(0.1)
    second = threading.Thread(target=writer, args=("second", 0.0))
    second.start()
    first.join()
    second.join()
    assert order == ["first start", "first end", "second start", "second end"]
    assert (tmp_path / "out.txt").read_text() == "second"


def test_a_failed_write_leaves_no_new_folder(tmp_path):
    from convert.backends import write

    target = tmp_path / "new" / "folder"
    with pytest.raises(RuntimeError):
        with write.atomic_files(str(target)) as new:
            new(str(target / "a.txt"))
            raise RuntimeError("the model could not be built")
    assert not target.exists()


def test_generate_on_a_full_disk_says_so_and_leaves_nothing(tmp_path, monkeypatch):
    pytest.importorskip("keras")
    from convert.runtime import audio

    spec = tmp_path / "mulaw.yaml"
    spec.write_text(MULAW)
    assert CliRunner().invoke(main, ["compile", str(spec), "-o", str(tmp_path)]).exit_code == 0

    def full(path, samples, sample_rate=16000):
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(audio, "write_samples", full)
    result = CliRunner().invoke(main, ["generate", str(spec), str(tmp_path / "mulaw.keras"), "--steps", "5",
                                       "-o", str(tmp_path / "out.wav")])
    assert result.exit_code == 1 and f"cannot write {tmp_path / 'out.wav'}: No space left on device" in result.output
    assert not any(p.name.startswith(".causalc-") or p.name == "out.wav" for p in tmp_path.iterdir())


def test_tensorflow_commands_print_no_start_up_chatter(tmp_path):
    import subprocess
    import sys

    pytest.importorskip("keras")
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "CAUSALC_DEBUG")}
    result = subprocess.run([sys.executable, "-c", "from convert.cli import run; run()", "compile",
                             os.path.join(ROOT, "specs", "dense-four.yaml"), "-o", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and result.stderr == ""
