"""What a careless user or an attacker does: files that are not files, absurd numbers, outputs in the
way, interrupted writes. Each test pins one finding of the hardening review (it failed before the fix)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from conftest import ROOT
from convert.cli import main
from convert.pipeline import check

GOOD = "input: {channels: 1, window: 4}\nlayers:\n  - {type: Flatten, name: f}\n  - {type: Dense, name: d, units: 1}\n"


def _codes(path) -> list[str]:
    return [d.code for d in check(str(path)).diagnostics]


def test_lint_never_waits_on_a_fifo_nor_reads_a_device(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    result = CliRunner().invoke(main, ["lint", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("not a regular file") == 2


def test_lint_of_a_folder_without_specs_is_an_error(tmp_path):
    (tmp_path / "x.yaml").mkdir()
    result = CliRunner().invoke(main, ["lint", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2 and "no spec files" in result.output


def test_a_huge_file_is_refused_unread(tmp_path, monkeypatch):
    from convert.frontend import source

    monkeypatch.setattr(source, "MAX_SPEC_BYTES", 64)
    path = tmp_path / "big.yaml"
    path.write_text(GOOD + "#" * 100)
    found = check(str(path)).diagnostics
    assert [d.code for d in found] == ["E100"] and "larger than" in found[0].message


def test_numbers_past_python_digits_are_located(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("window: 4", "window: " + "9" * 5000))
    found = check(str(path)).diagnostics
    assert [(d.code, d.span.line) for d in found] == [("E114", 1)]


@pytest.mark.parametrize("raw, value", [("1:30", "90"), ("1_0", "10")])
def test_yaml11_numbers_that_look_otherwise_are_flagged(tmp_path, raw, value):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("units: 1", f"units: {raw}"))
    found = [d for d in check(str(path)).diagnostics if d.code == "W304"]
    assert found and value in found[0].message


def test_control_characters_never_reach_the_terminal(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("units: 1", 'units: 1, "bad\\e[31m": 2'))  # YAML reads \e as ESC
    result = CliRunner().invoke(main, ["lint", str(path)])
    assert "E111" in result.output
    assert "\x1b" not in result.output and "bad\\x1b[31m" in result.output


def test_sarif_uris_are_percent_encoded(tmp_path):
    folder = tmp_path / "a b%"
    folder.mkdir()
    path = folder / "s.yaml"
    path.write_text(GOOD.replace("units: 1", "units: 0"))
    result = CliRunner().invoke(main, ["lint", str(path), "--format", "sarif"])
    uri = json.loads(result.output)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert "a%20b%25/s.yaml" in uri


def test_a_name_too_long_for_its_files_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: {'n' * 243}\n" + GOOD)
    assert _codes(path) == ["E114"]
    path.write_text(f"name: {'n' * 242}\n" + GOOD)
    assert _codes(path) == []


def test_e207_names_the_unused_layer_that_blocks_every_window(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("input: {channels: 1}\nlayers:\n  - {type: Conv1D, name: a, filters: 1, kernel_size: 3, strides: 2}\n"
                    "  - {type: Conv1D, name: unused, filters: 1, kernel_size: 2, strides: 2, inputs: input}\n"
                    "  - {type: Flatten, name: f, inputs: a}\n  - {type: Dense, name: d, units: 1}\n")
    found = check(str(path)).diagnostics
    e207 = next(d for d in found if d.code == "E207")
    assert "`unused`" in e207.message and "Delete `unused`" in e207.help


def test_a_long_window_search_gives_the_same_answer(tmp_path):
    """Branches whose alignments never agree, over grids whose common period passes the search limit: no
    window (E207); and a spec whose first fitting window lies past the first 256 tried is still found."""
    from convert.analysis import SCALAR_STEPS, fitting_windows
    from convert.pipeline import check as run

    lines = ["input: {channels: 1}", "layers:"]
    for branch, extra in (("c", 0), ("d", 1)):
        previous = "input"
        for i, stride in enumerate([2, 3, 5, 7, 11, 13, 17]):
            kernel = stride + (extra if i == 0 else 0)
            lines.append(f"  - {{type: Conv1D, name: {branch}{i}, filters: 1, kernel_size: {kernel}, strides: {stride}, "
                         f"inputs: {previous}}}")
            previous = f"{branch}{i}"
    lines.append("  - {type: Add, name: add, inputs: [c6, d6]}\n  - {type: Flatten, name: f}\n  - {type: Dense, name: o, units: 1}")
    path = tmp_path / "primes.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert "E207" in _codes(path)
    path.write_text("\n".join(line.replace("kernel_size: 3, strides: 2, inputs: input", "kernel_size: 2, strides: 2, "
                                           "inputs: input") for line in lines) + "\n")
    windows = fitting_windows(run(str(path)).analysis.spec, limit=3)
    from evaluator import fits, load

    spec = load(str(path))
    assert windows and all(fits(spec, w) for w in windows)
    assert windows[0] - 1 > SCALAR_STEPS or windows == [w for w in range(1, windows[-1] + 1) if fits(spec, w)][:3]


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


# ---- prime files, model files, generation options ----

MULAW = """name: mulaw
input: {channels: 1, window: 4}
layers:
  - {type: Conv1D, name: c, filters: 8, kernel_size: 2, activation: tanh}
  - {type: Conv1D, name: out, filters: 256, kernel_size: 3, activation: softmax}
"""


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
            "mono8.wav": _wav_bytes(width=1), "no-channels.wav": bytes(no_channels), "object.npy": b"\x93NUMPY\x01\x00"
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
    from convert.frontend import keras_import

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
    command = main.commands["generate"]
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


def test_a_spec_asking_for_too_many_weights_is_refused_before_allocation(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("input: {channels: 1, window: 100000}\nlayers:\n  - {type: Conv1D, name: c, filters: 4096, "
                    "kernel_size: 8}\n  - {type: Flatten, name: f}\n  - {type: Dense, name: d, units: 4096}\n")
    found = check(str(path)).diagnostics
    assert [(d.code, d.span.line) for d in found] == [("E211", 5)]
    result = CliRunner().invoke(main, ["--max-parameters", str(10**13), "lint", str(path)])
    assert result.exit_code == 0


def test_tensorflow_commands_print_no_start_up_chatter(tmp_path):
    import subprocess
    import sys

    pytest.importorskip("keras")
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "CAUSALC_DEBUG")}
    result = subprocess.run([sys.executable, "-c", "from convert.cli import run; run()", "compile",
                             os.path.join(ROOT, "specs", "dense-four.yaml"), "-o", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and result.stderr == ""


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
    assert sorted(p.name for p in out.iterdir()) == [".causalc.lock", "initial_state.npz", "saved_model", "step.tflite"]


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


def test_a_spec_with_more_values_than_read_says_so_without_blaming_aliases(tmp_path, monkeypatch):
    from convert.frontend import source

    monkeypatch.setattr(source, "MAX_NODES", 50)
    path = tmp_path / "s.yaml"
    path.write_text("input: {channels: 1}\nlayers:\n" + "  - {type: Flatten}\n" * 30)
    found = check(str(path)).diagnostics
    assert [d.code for d in found] == ["E103"] and "aliases" not in found[0].help


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


def test_a_practice_model_too_large_per_step_is_refused(tmp_path, monkeypatch):
    """E212: the values per time step (per edge slot with exact 'same' padding), and the plan of a huge
    'same' kernel, are bounded before anything is planned or built."""
    from convert import limits

    path = tmp_path / "s.yaml"
    path.write_text("same_padding: exact\ninput: {channels: 1, window: 60000}\nlayers:\n"
                    "  - {type: Conv1D, name: c, filters: 4, kernel_size: 65535, padding: same}\n"
                    "  - {type: GlobalAveragePooling1D, name: g}\n")
    found = check(str(path)).diagnostics
    assert [d.code for d in found] == ["E212"] and "taps planned" in found[0].message  # 400 x 51: 20,400 taps
    path.write_text("same_padding: exact\ninput: {channels: 8, window: 400}\nlayers:\n"
                    "  - {type: Conv1D, name: c, filters: 1024, kernel_size: 51, padding: same}\n"
                    "  - {type: GlobalAveragePooling1D, name: g}\n")
    assert check(str(path)).diagnostics == []
    monkeypatch.setattr(limits, "MAX_STEP_VALUES", 50_000)  # (1 + 50 slots) x 1,024 channels: 52,224 values
    found = check(str(path)).diagnostics
    assert [(d.code, d.span.line) for d in found] == [("E212", 4)] and "values per time step" in found[0].message


def test_a_failed_write_leaves_no_new_folder(tmp_path):
    from convert.backends import write

    target = tmp_path / "new" / "folder"
    with pytest.raises(RuntimeError):
        with write.atomic_files(str(target)) as new:
            new(str(target / "a.txt"))
            raise RuntimeError("the model could not be built")
    assert not target.exists()


def test_long_keras_messages_are_cut_at_a_word():
    pytest.importorskip("keras")
    from convert.runtime.api import _shorten

    cut = _shorten("word " * 100, 32)
    assert cut.endswith(" ...") and len(cut) <= 36 and "wor ..." not in cut


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
