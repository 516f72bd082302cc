"""Streaming: step by step, the stream reproduces the practice model at every step, warm-up included;
state can be saved and restored; generation is reproducible; the exported step runs without causalc."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, SPECS, advance, compiled, generated_model, output_bias, randomize, relative_error, spec_id, step_rule, stream_of
from evaluator import at_step, load, part, random_inputs
from strategies import spec_dicts

tf = pytest.importorskip("tensorflow")
# the bundled specs whose streams take longest to compile: streamed in the slow run (the drawn specs of
# test_generated_specs_stream_exactly cover their kinds, conditioning included, in every run)
HEAVY = ("matchboxnet", "vocoder", "tc-resnet")


@pytest.fixture(params=[pytest.param(path, marks=pytest.mark.slow) if spec_id(path) in HEAVY else path
                        for path in SPECS], ids=spec_id)
def streamed_spec(request) -> str:
    return request.param


def _x(stream, steps: int, batch: int = 2, seed: int = 0):
    return random_inputs(load(stream.analysis.spec.path), steps, batch, seed)


def test_run_equals_the_practice_model_at_every_step(streamed_spec):
    _, model = compiled(streamed_spec)
    stream = stream_of(streamed_spec)
    stream.reset(2)
    x = _x(stream, stream.analysis.window + 1100)  # more than one compiled chunk
    assert relative_error(stream.run(x), np.asarray(model(x), np.float64)) < 1e-5


def test_step_matches_run_and_state_resumes_exactly(streamed_spec):
    stream = stream_of(streamed_spec)
    spec = load(streamed_spec)
    x = _x(stream, 40, seed=1)
    stream.reset(2)
    whole = stream.run(x)
    stream.reset(2)
    stepped = np.stack([stream.step(at_step(spec, x, t)) for t in range(8)], axis=1)
    np.testing.assert_allclose(stepped, whole[:, :8], rtol=1e-6, atol=1e-6)
    stream.run(part(spec, x, 8, 20))
    saved = stream.get_state()
    rest = stream.run(part(spec, x, 20, 40))
    stream.reset(2)
    stream.set_state(saved)
    np.testing.assert_array_equal(stream.run(part(spec, x, 20, 40)), rest)
    np.testing.assert_allclose(rest, whole[:, 20:], rtol=1e-5, atol=1e-6)


def test_exact_warmup_stream(tmp_path):
    from convert import api
    from convert.runtime.stream import StreamingModel

    path = os.path.join(ROOT, "specs", "residual.yaml")
    _, model = compiled(path)
    exact = api.from_step(api.to_step(model, path), path, warmup="exact")
    with pytest.raises(api.WeightMismatch, match="compiled with warm-up 'exact', not 'causal': pass warmup='exact'"):
        StreamingModel(exact, path)  # told, never guessed: the wrong mode is an error that names the right one
    with pytest.raises(api.WeightMismatch, match="compiled with warm-up 'causal', not 'exact'"):
        StreamingModel(model, path, warmup="exact")
    stream = StreamingModel(exact, path, warmup="exact")
    stream.reset(2)
    x = _x(stream, 30, seed=2)
    assert relative_error(stream.run(x), np.asarray(exact(x), np.float64)) < 1e-5


def test_generation_is_reproducible_and_feeds_back():
    path = os.path.join(ROOT, "specs", "strided-stack.yaml")  # regression: units == channels
    stream = stream_of(path)
    _, model = compiled(path)
    stream.reset(1)
    first = np.full((1, 1), 0.5, np.float32)
    a = stream.generate(50, first=first, seed=3)
    stream.reset(1)
    b = stream.generate(50, first=first, seed=3)
    np.testing.assert_array_equal(a, b)
    fed = np.concatenate([first[:, None], a[:, :-1]], axis=1)  # what the model was fed
    np.testing.assert_allclose(np.asarray(model(fed)), a, rtol=1e-5, atol=1e-6)


def test_mu_law_sampling_is_seeded():
    stream = stream_of(os.path.join(ROOT, "specs", "wavenet.yaml"))
    assert stream.output_kind == "mu-law"
    runs = []
    for seed in (7, 7, 8):
        stream.reset(2)
        runs.append(stream.generate(300, seed=seed, temperature=0.9))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    assert np.all(np.abs(runs[0]) <= 1.0) and len(np.unique(runs[0])) > 5


@pytest.mark.parametrize("path", [os.path.join(ROOT, "specs", "pooling.yaml"),
                                  os.path.join(ROOT, "tests", "specs", "kinds.yaml")],  # layers with weights the step calls
                         ids=["pooling", "kinds"])
def test_export_runs_without_causalc(tmp_path, path):
    assert_export_matches_the_stream(stream_of(path), tmp_path, steps=25)


def assert_export_matches_the_stream(stream, folder, steps: int) -> None:
    """The exported step (SavedModel, and TFLite run by LiteRT), fed each input's value at each step and its own state
    back, gives the stream's outputs step by step."""
    from convert.runtime.export import input_name, tensor_name

    spec = load(stream.analysis.spec.path)
    written = stream.export(str(folder), batch_size=1)
    serving = tf.saved_model.load(written["saved_model"]).signatures["serving_default"]
    from ai_edge_litert.interpreter import Interpreter  # LiteRT: tf.lite.Interpreter is deprecated

    runner = Interpreter(model_path=written["tflite"]).get_signature_runner()
    shapes = stream.ring_shapes(1)
    state = {"t": np.array(0, np.int32), **{tensor_name(n): np.zeros(shapes[n], np.float32) for n in stream.ring_names}}
    written_state = np.load(written["initial state"])  # causal warm-up: the zero state, as the export says
    assert sorted(written_state.files) == sorted(state)
    for name in state:
        np.testing.assert_array_equal(written_state[name], state[name])
    lite_state = dict(state)
    rule = step_rule(stream, 1)
    stream.reset(1)
    x = _x(stream, steps, batch=1, seed=4)
    several = len(stream.nodes) > 1
    for t in range(steps):
        values = at_step(spec, x, t)
        feed = {input_name(node, several): v for node, v in zip(stream.nodes, values if several else [values])}
        want = stream.step(values)
        out = serving(**{k: tf.constant(v) for k, v in {**feed, **state}.items()})
        lite = runner(**feed, **lite_state)
        np.testing.assert_allclose(out["y"].numpy(), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lite["y"], want, rtol=1e-4, atol=1e-5)
        state = advance(state, {k: v.numpy() for k, v in out.items()}, rule)
        lite_state = advance(lite_state, lite, rule)


def test_generate_command(tmp_path):
    from convert.cli import main

    runner = CliRunner()
    spec = os.path.join(ROOT, "specs", "wavenet.yaml")
    assert runner.invoke(main, ["compile", spec, "-o", str(tmp_path)]).exit_code == 0
    model = str(tmp_path / "wavenet.keras")
    prime = tmp_path / "prime.npy"
    np.save(prime, np.sin(np.arange(300) / 5.0).astype(np.float32))
    for out in ("a.npy", "b.npy"):
        result = runner.invoke(main, ["generate", spec, model, "--steps", "120", "--prime", str(prime), "--seed", "1",
                                      "-o", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (120, 1) and np.array_equal(a, b)
    result = runner.invoke(main, ["generate", spec, model, "--steps", "60", "--sample-rate", "8000",
                                  "-o", str(tmp_path / "c.wav")])
    assert result.exit_code == 0, result.output
    import wave

    with wave.open(str(tmp_path / "c.wav")) as handle:
        assert (handle.getnframes(), handle.getframerate(), handle.getnchannels()) == (60, 8000, 1)
    flat = os.path.join(ROOT, "specs", "flatten-head.yaml")  # 10 classes over 1 channel: no feedback
    assert runner.invoke(main, ["compile", flat, "-o", str(tmp_path)]).exit_code == 0
    result = runner.invoke(main, ["generate", flat, str(tmp_path / "flatten-head.keras"), "--steps", "5",
                                  "-o", str(tmp_path / "d.npy")])
    assert result.exit_code == 1 and "cannot feed the output back" in result.output


@settings(max_examples=int(os.environ.get("CAUSALC_STREAM_EXAMPLES", "15")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(spec=st.booleans().flatmap(lambda conditioned: spec_dicts(max_layers=5, conditioned=conditioned)),
       seed=st.integers(0, 2**16))
def test_generated_specs_stream_exactly(spec, seed, tmp_path):
    from convert.runtime.stream import StreamingModel

    analysis, model = generated_model(spec, seed, tmp_path)
    stream = StreamingModel(model, analysis)
    stream.reset(2)
    x = random_inputs(spec, analysis.window + 12, 2, seed)
    assert relative_error(stream.run(x), np.asarray(model(x), np.float64)) < 1e-5


def test_a_ring_is_sized_for_its_furthest_reader(tmp_path):
    """Two convolutions read the input: the first reaches 2 steps back, the second 1. The shared ring must
    hold the longer history whatever the order of its readers."""
    from convert import api
    from convert.stream import StreamingModel

    for order in ([3, 2], [2, 3]):
        path = tmp_path / f"shared{order[0]}.yaml"
        path.write_text("input: {channels: 2}\nlayers:\n"
                        f"  - {{type: Conv1D, name: a, filters: 2, kernel_size: {order[0]}}}\n"
                        f"  - {{type: Conv1D, name: b, inputs: input, filters: 2, kernel_size: {order[1]}}}\n"
                        "  - {type: Add, name: sum, inputs: [a, b]}\n")
        model = api.practice_model(path)
        randomize(model, 9)
        stream = StreamingModel(model, path)
        assert stream.ring_shapes(1)["input"][0] == 3  # the kernel-3 reach of 2 steps, plus the current step
        stream.reset(2)
        x = np.random.default_rng(3).normal(size=(2, 20, 2)).astype(np.float32)
        assert relative_error(stream.run(x), np.asarray(model(x), np.float64)) < 1e-5


def _decode(levels, mu=255):
    """Mu-law decoding written from its formula (not from convert)."""
    y = 2.0 * np.asarray(levels, np.float64) / mu - 1.0
    return np.sign(y) * ((1.0 + mu) ** np.abs(y) - 1.0) / mu


def test_mu_law_encode_and_decode():
    from convert.stream import mu_law_decode, mu_law_encode

    levels = np.arange(256)
    decoded = mu_law_decode(levels).numpy()
    np.testing.assert_allclose(decoded, _decode(levels), rtol=1e-5, atol=1e-6)
    assert decoded[0] == -1.0 and decoded[255] == 1.0 and abs(decoded[128]) < 0.001
    np.testing.assert_array_equal(mu_law_encode(decoded), levels)  # each level survives the round trip
    x = np.linspace(-1, 1, 1001)
    assert np.max(np.abs(_decode(mu_law_encode(x)) - x)) < 0.022  # half the widest 8-bit mu-law step, near ±1


def test_sampling_picks_levels_by_their_probability():
    from convert.runtime.generation import sample_level

    for level in (0, 1, 77, 254, 255):  # a certain level is always the one sampled, at any temperature
        p = np.zeros((3, 256), np.float32)
        p[:, level] = 1.0
        u = tf.constant([[0.0], [0.5], [0.999999]])
        for temperature in (1.0, 0.01):
            assert sample_level(tf.constant(p), u, temperature).numpy().tolist() == [level] * 3
    p = np.full((1, 256), 0.5 / 254, np.float32)
    p[0, 3], p[0, 200] = 0.25, 0.25
    u = tf.constant(np.random.default_rng(0).uniform(size=(20_000, 1)).astype(np.float32))
    counts = np.bincount(sample_level(tf.constant(np.repeat(p, 20_000, 0)), u, 1.0).numpy(), minlength=256)
    np.testing.assert_allclose(counts / 20_000, p[0], atol=0.012)  # frequencies follow the probabilities
    sharp = sample_level(tf.constant(np.repeat(p, 1000, 0)), u[:1000], 0.001).numpy()
    assert set(sharp.tolist()) <= {3, 200}  # near 0, only the most likely levels: no underflow to level 0


def test_generation_feeds_back_the_sampled_level(tmp_path):
    """A model that is certain of level 200 generates decode(200) at every step: the sampled level, not
    its neighbour, is what is decoded and fed back."""
    from convert import api
    from convert.stream import StreamingModel

    path = tmp_path / "certain.yaml"
    path.write_text("input: {channels: 1}\nlayers:\n  - {type: Conv1D, name: c, filters: 4, kernel_size: 2, strides: 2}\n"
                    "  - {type: Flatten, name: f}\n  - {type: Dense, name: levels, units: 256, activation: softmax}\n")
    model = api.practice_model(path)
    randomize(model, 1)
    bias = np.full(256, -30.0)
    bias[200] = 30.0
    output_bias(model, bias)
    stream = StreamingModel(model, path)
    stream.reset(2)
    samples = stream.generate(60, seed=4, temperature=0.7)
    np.testing.assert_allclose(samples, np.full((2, 60, 1), _decode(200)), rtol=1e-5)
