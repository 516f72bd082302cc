"""Several inputs: hop frames at their documented alignment, global and categorical inputs, in every form
(practice, per-step, stream, exported step) against the evaluator; generation for every output kind, fed
back exactly as the spec says; bad conditioning gets a clear error and writes nothing."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ROOT, SMALL_VOCODER, compiled, relative_error, stream_of, weights_of
from evaluator import at_step, inputs_of, load, part, per_step_over_sequence, random_inputs, step_rate
from test_keras_per_step import assert_per_step_contract
from test_keras_stream import assert_export_matches_the_stream

tf = pytest.importorskip("tensorflow")
CONDITIONED = os.path.join(ROOT, "tests", "specs", "conditioned.yaml")
VOCODER = os.path.join(ROOT, "specs", "vocoder.yaml")
EMBEDDING = os.path.join(ROOT, "specs", "wavenet-embedding.yaml")


def _globals(spec_path, x) -> dict:
    return {n["name"]: v for n, v in zip(inputs_of(load(spec_path)), x) if n.get("global")}


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("extra_frames", [0, 1, 5])
def test_every_input_kind_matches_the_evaluator(extra_frames):
    """Frames that end with the signal (the last output, predicting a step past them, takes the last frame),
    and frames beyond it (ignored)."""
    practice, model = compiled(CONDITIONED)
    spec = load(CONDITIONED)
    window = practice.analysis.window
    x = random_inputs(spec, 45, seed=extra_frames)
    x[1] = np.random.default_rng(9).normal(size=(2, -(-45 // 3) + extra_frames, 3)).astype(np.float32)
    got = np.asarray(model(x))
    want = per_step_over_sequence(spec, weights_of(model), x, window)
    assert got.shape == (2, 45, 2)
    assert relative_error(got[:, window - 1:], want) < 1e-5


def test_per_step_form_and_exact_warmup_with_conditioning():
    _, model = compiled(CONDITIONED)
    assert_per_step_contract(CONDITIONED, load(CONDITIONED), model, seed=3)


def test_frames_reach_the_output_at_the_documented_step(tmp_path):
    """By hand, not through the evaluator: the output at t is frame (t+1) // hop (the frame of the step it
    predicts); past the last frame, the last frame."""
    from convert import api

    path = _write(tmp_path, "hop.yaml", "inputs:\n  - {name: x, channels: 1}\n  - {name: mel, channels: 1, hop: 4}\n"
                  "layers:\n  - {type: Conv1D, name: a, inputs: x, filters: 1, kernel_size: 1, use_bias: false}\n"
                  "  - {type: Conv1D, name: m, inputs: mel, filters: 1, kernel_size: 1, use_bias: false}\n"
                  "  - {type: Add, name: out, inputs: [a, m]}\n")
    model = api.practice_model(path)
    model.get_layer("a").set_weights([np.zeros((1, 1, 1), np.float32)])
    model.get_layer("m").set_weights([np.ones((1, 1, 1), np.float32)])
    frames = np.array([10.0, 20.0, 30.0], np.float32)[None, :, None]
    for steps, want in ((10, [10, 10, 10, 20, 20, 20, 20, 30, 30, 30]), (12, [10, 10, 10, 20, 20, 20, 20, 30, 30, 30, 30, 30])):
        got = np.asarray(model([np.zeros((1, steps, 1), np.float32), frames]))[0, :, 0]
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("warmup", ["causal", "exact"])
def test_stream_equals_practice_with_conditioning(warmup):
    from convert import api
    from convert.runtime.stream import StreamingModel

    spec = load(CONDITIONED)
    _, causal = compiled(CONDITIONED)
    model = causal if warmup == "causal" else api.from_step(api.to_step(causal, CONDITIONED), CONDITIONED, "exact")
    x = random_inputs(spec, 1100, seed=5)  # more than one compiled chunk
    stream = StreamingModel(model, CONDITIONED, warmup)
    stream.reset(2, globals=_globals(CONDITIONED, x))
    want = np.asarray(model(x), np.float64)
    assert relative_error(stream.run(x), want) < 1e-5
    stream.reset(2, globals=_globals(CONDITIONED, x))
    stepped = np.stack([stream.step(at_step(spec, x, t)) for t in range(30)], axis=1)
    assert relative_error(stepped, want[:, :30]) < 1e-5
    rest = stream.run([v if n.get("hop") or n.get("global") else v[:, 30:200] for n, v in zip(inputs_of(spec), x)])
    assert relative_error(rest, want[:, 30:200]) < 1e-5  # frames read from the sequence's first step


def test_exact_warmup_stream_needs_the_global_inputs():
    from convert import api
    from convert.runtime.conditioning import ConditionError
    from convert.runtime.stream import StreamingModel

    _, causal = compiled(CONDITIONED)
    exact = api.from_step(api.to_step(causal, CONDITIONED), CONDITIONED, "exact")
    stream = StreamingModel(exact, CONDITIONED, "exact")
    x = random_inputs(load(CONDITIONED), 10)
    with pytest.raises(ConditionError, match="reset"):
        stream.run(x)
    with pytest.raises(ConditionError, match="style, speaker"):
        stream.reset(2)


def test_exported_step_takes_the_conditioning_as_inputs(tmp_path):
    assert_export_matches_the_stream(stream_of(CONDITIONED), tmp_path, steps=40)


def test_regression_generation_feeds_back_exactly_with_conditioning():
    spec = load(CONDITIONED)
    _, model = compiled(CONDITIONED)
    stream = stream_of(CONDITIONED)
    assert stream.output_kind == "regression"
    x = random_inputs(spec, 60, batch=2, seed=7)
    conditions = {n["name"]: v for n, v in zip(inputs_of(spec), x) if n["name"] != "signal"}
    stream.reset(2)
    stream.run(part(spec, x, 0, 10))
    first = x[0][:, 10]
    out = stream.generate(49, first=first, conditions=conditions)
    fed = np.concatenate([x[0][:, :10], first[:, None], out[:, :-1]], axis=1)  # the signal the model saw
    want = np.asarray(model([fed] + x[1:4] + [x[4][:, :59]]))[:, 10:]
    assert relative_error(out, want) < 1e-5


def test_level_generation_feeds_the_sampled_level_back():
    """A categorical signal: the level sampled at a temperature near 0 is the most likely one at every
    step, and it is what the model reads next (checked by the practice model on the generated sequence)."""
    _, model = compiled(EMBEDDING)
    stream = stream_of(EMBEDDING)
    assert stream.output_kind == "level"
    stream.reset(2)
    levels = stream.generate(300, first=np.array([128, 3]), temperature=1e-6, seed=1)
    assert levels.shape == (2, 300) and levels.dtype.kind == "i"
    sequence = np.concatenate([[[128], [3]], levels], axis=1)
    probabilities = np.asarray(model(sequence))
    np.testing.assert_array_equal(np.argmax(probabilities[:, :-1], axis=-1), levels)


def test_level_and_one_hot_feedback_follow_a_known_rule(tmp_path):
    """Models set by hand to predict level + 3 (mod K) with near certainty: the generated levels must be
    exactly that sequence, for an integer signal through an Embedding and for a one-hot signal."""
    from convert import api
    from convert.runtime.stream import StreamingModel

    shift = 20 * np.roll(np.eye(16, dtype=np.float32), 3, axis=1)[None]
    level = _write(tmp_path, "level.yaml", "inputs:\n  - {name: level, categories: 16}\nlayers:\n"
                   "  - {type: Embedding, name: e, input_dim: 16, output_dim: 16}\n"
                   "  - {type: Conv1D, name: out, filters: 16, kernel_size: 1, activation: softmax}\n")
    one_hot = _write(tmp_path, "one-hot.yaml", "input: {channels: 16}\nlayers:\n"
                     "  - {type: Conv1D, name: out, filters: 16, kernel_size: 1, activation: softmax}\n")
    for path, kind, first in ((level, "level", np.array([2, 7])), (one_hot, "one-hot", np.eye(16, dtype=np.float32)[[2, 7]])):
        model = api.practice_model(path)
        if kind == "level":
            model.get_layer("e").set_weights([np.eye(16, dtype=np.float32)])
        model.get_layer("out").set_weights([shift, np.zeros(16, np.float32)])
        stream = StreamingModel(model, path)
        assert stream.output_kind == kind
        stream.reset(2)
        levels = stream.generate(40, first=first, temperature=0.05, seed=4)
        np.testing.assert_array_equal(levels, (np.array([[2], [7]]) + 3 * np.arange(1, 41)) % 16)


def test_outputs_generate_cannot_feed_back_are_refused(tmp_path):
    from convert import api
    from convert.runtime.stream import StreamingModel

    head = "  - {type: Conv1D, name: c, filters: 8, kernel_size: 2}\n"
    for activation, units, channels, why in (("softmax", 10, 1, "10 unit"), ("linear", 3, 2, "3 unit"),
                                             ("softmax", 8, 3, "8 unit")):
        path = _write(tmp_path, "refused.yaml", f"input: {{channels: {channels}}}\nlayers:\n" + head +
                      f"  - {{type: Conv1D, name: out, filters: {units}, kernel_size: 1, activation: {activation}}}\n")
        stream = StreamingModel(api.practice_model(path), path)
        with pytest.raises(ValueError, match=f"cannot feed the output back: .*{why}.*generate feeds back"):
            stream.output_kind


def test_sampling_near_zero_temperature_picks_the_most_likely_level():
    from convert.runtime.generation import sample_level, sample_logits

    p = np.full((2, 256), 1e-6, np.float32)
    p[0, 200], p[1, 3] = 0.5, 0.3
    u = tf.constant([[0.999], [0.0]])
    for temperature in (1e-3, 1e-12, 1e-30):
        assert sample_level(tf.constant(p), u, temperature).numpy().tolist() == [200, 3]
        assert sample_logits(tf.constant(np.log(p)), u, temperature).numpy().tolist() == [200, 3]


def test_generation_checks_its_conditions():
    from convert.runtime.conditioning import ConditionError
    from convert.runtime.stream import StreamingModel

    _, model = compiled(CONDITIONED)
    stream = StreamingModel(model, CONDITIONED)
    spec = load(CONDITIONED)
    x = random_inputs(spec, 30, batch=1)
    good = {n["name"]: v for n, v in zip(inputs_of(spec), x) if n["name"] != "signal"}
    cases = [(None, "needs the input"), ({k: v for k, v in good.items() if k != "frames"}, "missing input"),
             ({**good, "pitch": good["style"]}, "no input is named 'pitch'"),
             ({**good, "frames": good["frames"][:, :3]}, "has 3 frame.*need 11"),
             ({**good, "style": good["style"][:, :1]}, "input `style`: expected shape"),
             ({**good, "phone": good["phone"] + 5}, "categories must lie in 0..4"),
             ({**good, "frames": np.full_like(good["frames"], np.nan)}, "NaN")]
    for conditions, message in cases:
        stream.reset(1)
        with pytest.raises(ConditionError, match=message):
            stream.generate(30, conditions=conditions)
    stream.reset(1)
    assert stream.generate(29, conditions=good).shape == (1, 29, 2)


@pytest.mark.slow
def test_step_rate_conditioning_is_what_the_evaluator_reads():
    """The stream's own expansion (convert.runtime.conditioning) and the evaluator's agree at every step."""
    from convert.runtime import conditioning
    from convert.runtime.stream import StreamingModel

    _, model = compiled(CONDITIONED)
    stream = StreamingModel(model, CONDITIONED)
    spec = load(CONDITIONED)
    x = random_inputs(spec, 50, seed=8)
    ours = conditioning.step_rate(stream.nodes, x, 0, 50)
    theirs = step_rate(spec, x)
    for node, value in zip(inputs_of(spec), ours):
        want = theirs[node["name"]]
        np.testing.assert_array_equal(value, np.repeat(want[None], 50, 0) if node.get("global") else np.moveaxis(want, 1, 0))


def test_generate_command_with_conditioning(tmp_path):
    from convert.cli import main

    runner = CliRunner()
    vocoder = tmp_path / "small-vocoder.yaml"  # vocoder.yaml's inputs: what the command checks and feeds
    vocoder.write_text(SMALL_VOCODER)
    assert runner.invoke(main, ["compile", str(vocoder), "-o", str(tmp_path)]).exit_code == 0
    model = str(tmp_path / "small-vocoder.keras")
    rng = np.random.default_rng(0)
    files = {"mel": rng.normal(size=(4, 80)).astype(np.float32), "speaker": np.array(2), "short": np.zeros((1, 80)),
             "wide": np.zeros((4, 79)), "badspeaker": np.array(4), "prime": np.arange(200) % 256,
             "badprime": np.arange(200) + 100}
    for name, value in files.items():
        np.save(tmp_path / f"{name}.npy", value)

    def run(*args, out="g.npy"):
        return runner.invoke(main, ["generate", str(vocoder), model, "--steps", "700", "-o", str(tmp_path / out), *args])

    good = ["--condition", f"mel={tmp_path / 'mel.npy'}", "--condition", f"speaker={tmp_path / 'speaker.npy'}"]
    result = run(*good, "--prime", str(tmp_path / "prime.npy"), "--temperature", "0.5")
    assert result.exit_code == 0, result.output
    levels = np.load(tmp_path / "g.npy")
    assert levels.shape == (700,) and levels.dtype == np.int32 and 0 <= levels.min() and levels.max() <= 255
    result = run(*good, out="g.wav")
    assert result.exit_code == 0, result.output
    bad = [(good[:2], "`speaker` need values: --condition speaker=FILE.npy"),
           (good + ["--condition", f"pitch={tmp_path / 'mel.npy'}"], "no input is named `pitch`"),
           (good + ["--condition", f"mel={tmp_path / 'mel.npy'}"], "`mel` is given twice"),
           (["--condition", f"mel={tmp_path / 'short.npy'}", *good[2:]], "has 1 frame"),
           (["--condition", f"mel={tmp_path / 'wide.npy'}", *good[2:]], "expected shape"),
           (["--condition", f"mel={tmp_path / 'missing.npy'}", *good[2:]], "cannot read the condition mel="),
           (good[:2] + ["--condition", f"speaker={tmp_path / 'badspeaker.npy'}"], "categories must lie in 0..3"),
           (good + ["--prime", str(tmp_path / "badprime.npy")], "the prime .* categories must lie in 0..255"),
           (good + ["--condition", "mel"], "expected NAME=FILE.npy")]
    for args, message in bad:
        result = run(*args, out="bad.npy")
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert __import__("re").search(message, result.output), (message, result.output)
        assert not (tmp_path / "bad.npy").exists()
