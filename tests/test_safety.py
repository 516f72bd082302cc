"""Limits and safety without TensorFlow: sizes parsed and refused before anything is allocated, paths that
are not regular files refused, files read checked before use, drawings bounded by what a picture shows,
cluster settings checked like options, and a signal that leaves nothing staged behind."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT
from convert.cli import main
from convert.core import limits
from convert.core.errors import NotRegular, TooLarge

CAUSALC = [sys.executable, "-m", "convert"]
ENV = {**os.environ, "PYTHONPATH": ROOT}
STRIDED = os.path.join(ROOT, "specs", "strided-stack.yaml")


def _spec(tmp_path, text: str, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _invoke(args, env=None):
    return CliRunner().invoke(main, args, env=env)


# ---- sizes ----

@pytest.mark.parametrize("text, size", [("4GiB", 4 * 2**30), ("4g", 4 * 2**30), ("512MB", 512 * 2**20),
                                        ("100000", 100000), ("1.5k", 1536), (" 2 TiB ", 2 * 2**40)])
def test_sizes_read_in_binary_units(text, size):
    assert limits.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "4x", "-1G", "G", "0", "1e9", "4 GB B"])
def test_a_size_that_is_not_one_is_a_usage_error(text):
    with pytest.raises(ValueError):
        limits.parse_size(text)
    result = _invoke(["--max-memory", text, "lint", STRIDED])
    assert result.exit_code == 2 and "--max-memory" in result.output


def test_check_memory_names_the_figure_the_limit_and_the_option(monkeypatch):
    monkeypatch.setattr(limits, "MAX_MEMORY", 2**30)
    limits.check_memory("a thing", 2**30)  # at the limit: allowed
    with pytest.raises(TooLarge) as caught:
        limits.check_memory("a thing", 3 * 2**30, "use less")
    message = str(caught.value)
    assert "a thing would take 3 GiB" in message and "limit of 1 GiB" in message and "use less" in message
    assert "--max-memory" in message


def test_the_memory_limit_is_per_invocation():
    _invoke(["--max-memory", "1k", "lint", STRIDED])
    result = _invoke(["lint", STRIDED])
    assert result.exit_code == 0 and limits.MAX_MEMORY == limits.DEFAULT_MAX_MEMORY


# ---- paths ----

def test_only_regular_files_or_new_paths_are_used(tmp_path):
    from convert.frontend.source import regular_or_absent

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    regular_or_absent(str(tmp_path / "new"))
    (tmp_path / "file").write_text("x")
    regular_or_absent(str(tmp_path / "file"))
    for path, kind in ((fifo, "a FIFO"), (tmp_path, "a folder"), ("/dev/null", "a device")):
        with pytest.raises(NotRegular, match=kind):
            regular_or_absent(str(path), "--log")


def test_an_output_that_is_a_fifo_is_refused_not_replaced(tmp_path):
    """import's spec here; every output staged by atomic_files in tests/test_keras_safety.py."""
    os.mkfifo(tmp_path / "fifo.yaml")
    model = _keras_file(tmp_path / "m.keras", json.dumps(SEQUENTIAL))
    result = _invoke(["import", model, "-o", str(tmp_path / "fifo.yaml")])
    assert result.exit_code == 1 and "FIFO" in result.output and "Traceback" not in result.output


def test_an_io_error_no_command_foresaw_is_a_clear_message(monkeypatch, tmp_path):
    """The rule, not one path: an OSError escaping any command is said with its path and reason, exit 1,
    never as an internal error."""
    import errno

    from convert.cli import checking

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(checking, "check", full)
    result = _invoke(["explain", STRIDED])
    assert result.exit_code == 1 and "No space left on device" in result.output and str(tmp_path / "x") in result.output
    assert "internal error" not in result.output and "Traceback" not in result.output


# ---- files read are checked before use ----

def _npz_declaring(path, arrays: dict) -> None:
    """A .npz whose members' headers declare `arrays` shapes, holding only a few bytes of data each."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, shape in arrays.items():
            handle = io.BytesIO()
            np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": shape})
            archive.writestr(name + ".npy", handle.getvalue() + bytes(64))


def test_an_npz_member_declaring_more_than_is_read_is_refused_before_loading(tmp_path):
    from convert.runtime.recordings import RecordingError, read_npz
    from convert.pipeline import check_text

    analysis = check_text("name: two\ninputs:\n  - {name: x, channels: 1, window: 4}\n  - {name: c, channels: 2, "
                          "window: 4}\nlayers:\n  - {type: Concatenate, inputs: [x, c]}\n  - {type: Conv1D, "
                          "filters: 1, kernel_size: 4}\n", str(tmp_path / "two.yaml")).analysis
    nodes = analysis.spec.inputs
    _npz_declaring(tmp_path / "bomb.npz", {"x": (250_000_000, 1), "c": (250_000_000, 2)})
    with pytest.raises(RecordingError, match="declare 750,000,000 values"):
        read_npz(str(tmp_path / "bomb.npz"), nodes)
    np.savez(tmp_path / "ok.npz", x=np.zeros((8, 1), np.float32), c=np.zeros((8, 2), np.float32))
    assert [a.shape for a in read_npz(str(tmp_path / "ok.npz"), nodes)] == [(8, 1), (8, 2)]


@pytest.mark.parametrize("value", [np.zeros((5, 2), complex), np.zeros((5, 2), bool), np.array(["a", "b"]),
                                   np.zeros((2, 3, 4, 5), np.float32)])
def test_arrays_of_another_kind_or_rank_are_refused_by_name(tmp_path, value):
    from convert.core.errors import BadValue
    from convert.runtime.audio import read_samples

    np.save(tmp_path / "a.npy", value)
    with pytest.raises(BadValue, match="expected a real-valued"):
        read_samples(str(tmp_path / "a.npy"), ranks=(1, 2, 3))


def _keras_file(path, config_text: str) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", config_text)
        archive.writestr("metadata.json", "{}")
    return str(path)


SEQUENTIAL = {"class_name": "Sequential", "config": {"name": "m", "layers": [
    {"class_name": "InputLayer", "config": {"batch_shape": [None, 8, 1], "name": "input_layer"}},
    {"class_name": "Conv1D", "config": {"name": "conv", "filters": 2, "kernel_size": [2], "strides": [2]}},
    {"class_name": "Flatten", "config": {"name": "flatten"}},
    {"class_name": "Dense", "config": {"name": "dense", "units": 1}}]}}


def _with(change) -> str:
    config = json.loads(json.dumps(SEQUENTIAL))
    change(config["config"])
    return json.dumps(config)


@pytest.mark.parametrize("text, message", [
    ('{"class_name": "Sequential", "config": ' + "[" * 200_000 + "]" * 200_000 + "}", "nests deeper"),
    (_with(lambda m: m.update(layers=["x", 3])), "layer 0 must be an object"),
    (_with(lambda m: m.update(layers={"a": 1})), "`layers` must be a list"),
    (_with(lambda m: m["layers"][0]["config"].update(batch_shape="(None, 8, 1)")), "`batch_shape` must be a list"),
    (_with(lambda m: m["layers"][0]["config"].update(batch_shape=[None, True, 1])), "`batch_shape` must be a list"),
    (_with(lambda m: m["layers"][1]["config"].update(name=["a", "b"])), "`name` must be a string"),
    (_with(lambda m: m["layers"][1].update(class_name=7)), "`class_name` must be a string"),
    (_with(lambda m: m["layers"][2].update(config=[1])), "`config` must be an object"),
    ('{"class_name": "Sequential", "config": 5}', "`config` must be an object"),
])
def test_import_of_a_configuration_keras_never_writes_is_a_clear_error(tmp_path, text, message):
    model = _keras_file(tmp_path / "m.keras", text)
    out = tmp_path / "spec.yaml"
    result = _invoke(["import", model, "-o", str(out)])
    assert result.exit_code == 1 and message in result.output, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output and not out.exists()


def test_the_configuration_checks_pass_what_keras_writes(tmp_path):
    out = tmp_path / "spec.yaml"
    result = _invoke(["import", _keras_file(tmp_path / "m.keras", json.dumps(SEQUENTIAL)), "-o", str(out)])
    assert result.exit_code == 0 and out.exists(), result.output


# ---- drawings ----

def test_a_drawing_costs_what_it_shows_not_the_window(tmp_path):
    """Window 2e9: only the newest positions are visited (the old code looped over every one)."""
    from convert.pipeline import check
    from convert.views.draw import per_step_drawing

    spec = _spec(tmp_path, "name: huge\ninput: {channels: 1, window: 2000000000}\nlayers:\n"
                           "  - {type: Conv1D, filters: 1, kernel_size: 2, strides: 2}\n"
                           "  - {type: GlobalAveragePooling1D}\n")
    analysis = check(spec).analysis
    started = time.process_time()
    drawing = per_step_drawing(analysis)
    assert time.process_time() - started < 5  # a loop over 1e9 positions takes minutes
    assert drawing.last == 2_000_000_000 - 1 and len(drawing.rows[0].steps) <= 64
    assert {edge.dst for edge in drawing.edges if edge.layer == drawing.rows[-1].name} == {drawing.last}


def test_a_network_deeper_than_a_picture_is_refused_before_drawing(tmp_path):
    pytest.importorskip("matplotlib")
    layers = "".join("  - {type: Conv1D, filters: 1, kernel_size: 1}\n" for _ in range(3200))
    spec = _spec(tmp_path, "name: deep\ninput: {channels: 1, window: 1}\nlayers:\n" + layers)
    out = tmp_path / "deep.png"
    result = _invoke(["draw", spec, "-o", str(out)])
    assert result.exit_code == 1 and "3,201 tensors" in result.output and "at most 300" in result.output
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".causalc-")] == []


def _staged(folder) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".causalc-")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_draw_leaves_nothing_staged(tmp_path, sig):
    pytest.importorskip("matplotlib")
    layers = "".join("  - {type: Conv1D, filters: 1, kernel_size: 1}\n" for _ in range(299))
    spec = _spec(tmp_path, "name: deep\ninput: {channels: 1, window: 1}\nlayers:\n" + layers)
    process = subprocess.Popen(CAUSALC + ["draw", spec, "-o", str(tmp_path / "d.png")], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not _staged(tmp_path) and time.time() < deadline and process.poll() is None:
        time.sleep(0.01)
    assert _staged(tmp_path), "the drawing never staged its file"
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0 and _staged(tmp_path) == [] and not (tmp_path / "d.png").exists(), err
    assert "Traceback" not in err
    assert process.returncode == 128 + sig and f"stopped by {sig.name}" in err, err


# ---- cluster settings ----

@pytest.mark.parametrize("config, message", [
    ({"cluster": {"worker": ["localhost:1234"]}, "task": {"type": "worker", "index": 3}}, "task.index is 3"),
    ({"cluster": {"worker": ["localhost:1234"]}, "task": {"type": "worker", "index": -1}}, "task.index is -1"),
    ({"cluster": {"worker": ["localhost:1234"]}, "task": {"type": "worker", "index": "0"}}, "task.index is '0'"),
    ({"cluster": {"worker": "localhost:12345"}, "task": {"type": "worker", "index": 0}}, "must be a list"),
    ({"cluster": {"worker": ["localhost:99999", "localhost:2"]}, "task": {"index": 0}}, "ports 1 to 65535"),
    ({"cluster": {"worker": ["a:1", "a:1"]}, "task": {"index": 0}}, "given twice"),
    ({"cluster": {"worker": ["a:1"], "chief": ["b:2"]}, "task": {"type": "chief", "index": 0}}, "workers only"),
    ([1], "not a cluster of workers"),
])
def test_cluster_settings_in_tf_config_are_checked_before_waiting(tmp_path, config, message):
    started = time.monotonic()
    result = _invoke(["train", STRIDED, str(tmp_path / "x.npy"), "-o", str(tmp_path / "m.keras"), "--timeout", "600"],
                     env={"TF_CONFIG": json.dumps(config)})
    assert result.exit_code == 2 and message in result.output, result.output
    assert time.monotonic() - started < 30 and not (tmp_path / "m.keras").exists()


@pytest.mark.parametrize("cluster, message", [("a:1,b:0", "'b:0' is not one"), ("a:1,b:65536", "ports 1 to 65535"),
                                              ("a:1,a:1", "given twice"), ("a", "HOST:PORT")])
def test_cluster_option_is_checked_like_tf_config(tmp_path, cluster, message):
    result = _invoke(["train", STRIDED, str(tmp_path / "x.npy"), "-o", str(tmp_path / "m.keras"),
                      "--cluster", cluster, "--worker-index", "0"])
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_limit_given_on_the_command_line_ends_with_the_command():
    """`--max-memory` holds for its invocation only: code run after it in the same process (the Python API,
    the next test) has the limits it had before."""
    from convert.core import limits

    before = (limits.MAX_PARAMETERS, limits.MAX_STEP_VALUES, limits.MAX_MEMORY)
    result = _invoke(["--max-memory", "64k", "--max-parameters", "10", "--max-step-values", "10", "lint", STRIDED])
    assert result.exit_code in (0, 1), result.output
    assert (limits.MAX_PARAMETERS, limits.MAX_STEP_VALUES, limits.MAX_MEMORY) == before
