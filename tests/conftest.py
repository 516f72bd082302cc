"""Shared helpers: compiled practice models are built once per spec and session."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
_compiled: dict[str, tuple] = {}
_streams: dict = {}

BLOCK_TENSORFLOW = """
import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _Absent())
"""  # prepended to code run in a subprocess: `import tensorflow` and `import keras` fail as if not installed

# a small spec with a mu-law output, for the commands that generate and write
MULAW = """name: mulaw
input: {channels: 1, window: 4}
layers:
  - {type: Conv1D, name: c, filters: 8, kernel_size: 2, activation: tanh}
  - {type: Conv1D, name: out, filters: 256, kernel_size: 3, activation: softmax}
"""


# specs/vocoder.yaml's inputs over a network a hundred times smaller: for command-line journeys, whose cost is
# loading and compiling the model each time, not what they check
SMALL_VOCODER = """name: small-vocoder
inputs:
  - {name: audio, categories: 256}
  - {name: mel, channels: 80, hop: 256}
  - {name: speaker, categories: 4, global: true}
layers:
  - {type: Embedding, name: speaker_embedding, inputs: speaker, input_dim: 4, output_dim: 4}
  - {type: Conv1D, name: first, inputs: audio, filters: 4, kernel_size: 2}
  - {type: Conv1D, name: mel_in, inputs: mel, filters: 4, kernel_size: 1}
  - {type: Add, name: sum, inputs: [first, mel_in, speaker_embedding]}
  - {type: Conv1D, name: hidden, filters: 4, kernel_size: 2, dilation_rate: 2, activation: tanh}
  - {type: Conv1D, name: out, filters: 256, kernel_size: 1, activation: softmax}
"""


def spec_id(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def randomize(model, seed: int = 0) -> None:
    """Random kernels scaled by fan-in and random (non-zero) biases, so every weight matters; normalisation
    statistics random too (variances positive), so that inference-mode normalisation is not the identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for variable in layer.weights:
            name, shape = variable.path.split("/")[-1], tuple(variable.shape)
            if name == "moving_variance":
                values.append(rng.uniform(0.5, 2.0, shape).astype(np.float32))
            elif name == "gamma":
                values.append(rng.uniform(0.5, 1.5, shape).astype(np.float32))
            else:
                fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
                values.append(rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape).astype(np.float32))
        if values:
            layer.set_weights(values)


def weights_of(model) -> dict:
    return {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}


def compiled(path: str):
    """(practice graph, Keras model with random weights) for a spec file, built once per session."""
    if path not in _compiled:
        from convert.backends.keras_model import build_model
        from convert.lowering import lower
        from convert.pipeline import front_end

        practice = lower(front_end(path))
        model = build_model(practice)
        randomize(model, seed=len(_compiled))
        _compiled[path] = (practice, model)
    return _compiled[path]


def stream_of(path: str):
    """The StreamingModel of a spec file's `compiled` model, built once per session."""
    from convert.runtime.stream import StreamingModel

    if path not in _streams:
        _streams[path] = StreamingModel(compiled(path)[1], path)
    return _streams[path]


def output_bias(model, bias) -> None:
    """The `levels` layer reads nothing any more: its kernel zero, its output the activation of `bias`
    whatever the input (a model set by hand to predict fixed probabilities)."""
    kernel, old = model.get_layer("levels").get_weights()
    model.get_layer("levels").set_weights([np.zeros_like(kernel), np.asarray(bias, old.dtype)])


def generated_model(spec: dict, seed: int, folder):
    """(analysis, practice model with random weights) of a spec hypothesis drew, written to `folder`; a spec
    with errors is rejected with hypothesis's `assume` (only E207, no window fits, which test_keras_generated
    cross-checks against the evaluator)."""
    import yaml
    from hypothesis import assume

    from convert import api
    from convert.pipeline import check

    path = folder / "generated.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    checked = check(str(path))
    assume(checked.ok)
    model = api.practice_model(checked.analysis)
    randomize(model, seed)
    return checked.analysis, model


SCALE_FLOOR = 0.1  # float32 sums of O(1) terms cancelling to a tiny output are still rounded at O(1)


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want|: the error relative to the output's scale (at least SCALE_FLOOR: the
    weights are random with unit fan-in scale, so the sums behind an output are O(1) however small it is)."""
    scale = max(float(np.max(np.abs(want))), SCALE_FLOOR)
    return float(np.max(np.abs(np.asarray(got, np.float64) - want))) / scale


@pytest.fixture(params=SPECS, ids=spec_id)
def bundled_spec(request) -> str:
    return request.param


def step_rule(stream, batch: int) -> list[tuple[str, str, int]]:
    """(state name, column name, length) of every ring of the exported step of `stream` at `batch`."""
    from convert.runtime.export import ring_rule

    return ring_rule(stream, batch)


def advance(state: dict, out: dict, rule) -> dict:
    """The state after a step of the exported step, by step.json's rule written out here: each ring's column
    at row t % length, then t + 1."""
    t = int(state["t"])
    state = {name: np.array(value) for name, value in state.items()}
    for name, column, length in rule:
        state[name][t % length] = np.asarray(out[column])
    state["t"] = np.array(t + 1, np.int32)
    return state


_exports: dict = {}


def exported_step(path: str, batch: int = 2, fmt: str = "onnx") -> str:
    """A folder holding the exported step of `stream_of(path)` at `batch` (step.onnx, or saved_model and
    step.tflite; step.json, initial_state.npz, spec.yaml), written once per session."""
    import atexit
    import shutil
    import tempfile

    key = (path, batch, fmt)
    if key not in _exports:
        folder = tempfile.mkdtemp(prefix="causalc-step-")
        atexit.register(shutil.rmtree, folder, True)
        stream = stream_of(path)
        if fmt == "onnx":
            from convert.runtime.onnx_export import export_step_onnx

            export_step_onnx(stream, folder, batch)
        else:
            stream.export(folder, batch)
        _exports[key] = folder
    return _exports[key]
