"""`causalc import --practice`: the practice model of an imported spec, carrying the source model's trained
weights, and checked against the source before anything is written.

The weights go through the spec's own per-step model (the weight map's per-step side, by spec layer name,
each source layer's arrays reshaped to the shapes the map states), then `from_step` as for any per-step
model; a source layer whose class differs from the spec's (a TimeDistributed Dense, a ReLU read as a kind)
carries the same arrays. The check runs the source and the practice model on random inputs: on the window
ending at every step for a per-step source, on the whole sequence for a practice-form one.
"""

from __future__ import annotations

import os

import numpy as np

from convert.core.errors import BadValue
from convert.analysis import Analysis
from convert.core.diagnostics import SpecError
from convert.runtime.compare import relative_error
from convert.runtime.api import ModelFileError, WeightMismatch, _check_model_file, from_step, per_step_model, weight_map

TOLERANCE = 1e-5  # relative to the source's largest output, as the contract states
CHECK_STEPS = 24  # steps past the window the check runs


class PracticeCheckFailed(BadValue):
    """The practice model does not compute what the source model does: nothing is written."""


def load_source(path: str):
    """The source Keras model, loaded without running code (safe mode), uncompiled."""
    import keras

    _check_model_file(path)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types here: the file is unusable either way
        raise ModelFileError(f"{path}: Keras cannot load it ({type(error).__name__}: "
                             f"{str(error).splitlines()[0][:200] if str(error) else 'no detail'})") from None


def source_weights(source) -> dict[str, list[np.ndarray]]:
    """Every layer's arrays by layer name, in Keras's order (a wrapper's are its inner layer's)."""
    return {layer.name: layer.get_weights() for layer in source.layers if layer.weights}


def carry(weights: dict[str, list[np.ndarray]], analysis, warmup: str = "causal"):
    """The practice model of `analysis` holding `weights` (arrays by spec layer name)."""
    step = per_step_model(analysis)
    entries = weight_map(analysis, warmup)["layers"]
    for entry in entries:
        name, want = entry["spec_layer"], entry["per_step"]["weights"]
        values = weights.get(name)
        if values is None:
            raise WeightMismatch(f"layer `{name}`: the source holds no weights for it")
        sizes = [int(np.prod(shape)) for shape in want.values()]
        if [v.size for v in values] != sizes:
            found = ", ".join(str(tuple(v.shape)) for v in values) or "no weights"
            raise WeightMismatch(f"layer `{name}`: expected {', '.join(f'{k} {tuple(s)}' for k, s in want.items())}; "
                                 f"found {found}")
        step.get_layer(entry["per_step"]["name"]).set_weights(
            [np.reshape(v, shape).astype(np.float32) for v, shape in zip(values, want.values())])
    unmapped = sorted(set(weights) - {entry["spec_layer"] for entry in entries})
    if unmapped:
        raise WeightMismatch(f"layer(s) {', '.join(f'`{n}`' for n in unmapped)} hold weights the spec does not "
                             "carry")
    return from_step(step, analysis, warmup)


def _windows(nodes, arrays: list, ends: list[int], window: int) -> list[np.ndarray]:
    """The per-step model's inputs for the windows ending at `ends` (batch-major, then end)."""
    out = []
    for node, array in zip(nodes, arrays):
        if node.sequence:
            out.append(np.concatenate([array[:, t - window + 1:t + 1] for t in ends]))
        else:
            out.append(np.concatenate([array] * len(ends)))
    return out


def check_against(practice, run_source, analysis, practice_form: bool, seed: int = 0, columns=None) -> float:
    """The largest relative difference between the practice model and the source on random inputs
    (`run_source(arrays) -> outputs`); PracticeCheckFailed above TOLERANCE."""
    from convert.runtime.conditioning import random_arrays

    nodes, window = analysis.spec.inputs, analysis.window
    length = window + CHECK_STEPS
    arrays = random_arrays(nodes, length, batch=2, seed=seed)
    import keras

    got = keras.ops.convert_to_numpy(practice(arrays if len(arrays) > 1 else arrays[0], training=False))
    got = np.asarray(got, np.float64)
    if practice_form:
        want = np.asarray(run_source(arrays), np.float64)
        if want.ndim == 2:  # a model that returns the last step only
            got = got[:, -1]
    else:
        ends = list(range(window - 1, length))
        want = np.asarray(run_source(_windows(nodes, arrays, ends, window)), np.float64)
        want = want.reshape(len(ends), 2, -1).transpose(1, 0, 2)
        got = got[:, window - 1:].reshape(2, len(ends), -1)
    if columns is not None:  # the spec channels the source's outputs are
        got, want = got[..., columns], want[..., columns]
    if got.shape != want.shape:
        raise PracticeCheckFailed(f"the practice model gives shape {got.shape}, the source {want.shape}")
    error = relative_error(got, want)
    if not error <= TOLERANCE:
        raise PracticeCheckFailed(f"the practice model differs from the source by {error:.2e} (relative; at most "
                                  f"{TOLERANCE:g} is exact): nothing written. This is a bug in causalc: please report "
                                  "it with the model")
    return error


def stored_weights(path: str, groups: dict[str, str]) -> dict[str, list[np.ndarray]]:
    """Arrays by spec layer from a `.keras` file's weights, each layer's from its group (`GROUP/vars/0`, ...;
    a wrapper's from its inner layer's group), read with h5py: no layer class is needed."""
    import io
    import zipfile

    import h5py

    from convert.core.limits import check_memory

    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("model.weights.h5")
            check_memory(f"the weights of {path}", info.file_size, "a smaller model")
            data = archive.read(info)
        out = {}
        with h5py.File(io.BytesIO(data), "r") as handle:
            for name, group in groups.items():
                node = handle.get(group)
                if node is not None and "vars" not in node and len(node) == 1:
                    node = node[next(iter(node))]  # a wrapper: its one inner layer
                if node is None or "vars" not in node:
                    continue
                found = node["vars"]
                out[name] = [np.asarray(found[str(i)]) for i in range(len(found))]
        return out
    except (KeyError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise ModelFileError(f"{path}: its weights cannot be read ({type(error).__name__}: {str(error)[:200]})") from None


def _tcn_source(path: str):
    """The source model when keras-tcn is installed to run its TCN layers, else None."""
    import importlib.util

    if importlib.util.find_spec("tcn") is None:
        return None
    import tcn  # noqa: F401  (registers the TCN class with Keras)

    return load_source(path)


def keras_practice(path: str, analysis, found: dict, warmup: str = "causal"):
    """(the practice model of `analysis` with the weights of the Keras model at `path`, the relative error
    of its check against that model, or None when the model cannot be run here: a TCN without keras-tcn)."""
    practice_form = found["practice_form"]
    if found["stored"]:  # keras-tcn's layers: their weights by path, whether or not keras-tcn is installed
        groups = {**{layer.name: found["containers"][layer.name] for layer in analysis.spec.layers
                     if layer.name in found["containers"]}, **{k: "/".join(v) for k, v in found["stored"].items()}}
        practice = carry(stored_weights(path, groups), analysis, warmup)
        source = _tcn_source(path)
        if source is None:
            return practice, None
    else:
        source = load_source(path)
        practice = carry(source_weights(source), analysis, warmup)

    def run(arrays):
        import keras

        return keras.ops.convert_to_numpy(source(arrays if len(arrays) > 1 else arrays[0], training=False))

    return practice, check_against(practice, run, analysis, practice_form)


def onnx_practice(path: str, analysis, found: dict, warmup: str = "causal"):
    """(the practice model carrying an ONNX model's weights, its check's relative difference from the
    model as onnxruntime runs it, on the window ending at every step)."""
    try:
        import onnxruntime
    except ImportError:
        raise BadValue("checking the practice model against the ONNX model needs onnxruntime: pip install "
                       "onnxruntime") from None
    practice = carry(found["weights"], analysis, warmup)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own error types: the file does not run either way
        raise ModelFileError(f"{path}: onnxruntime cannot run it ({type(error).__name__}: "
                             f"{str(error).splitlines()[0][:200] if str(error) else 'no detail'})") from None
    name, idx = found["input_name"], found["input_idx"]
    fixed = session.get_inputs()[0].shape[0]
    order = found["output_idx"].reshape(-1)

    def run(arrays):
        windows = arrays[0]  # (n, W, C): the spec's layout, to the model's through `idx`
        onnx_in = windows.reshape(len(windows), -1)[:, idx.reshape(-1)].reshape((len(windows),) + idx.shape)
        step = fixed if isinstance(fixed, int) and fixed > 0 else len(onnx_in)
        outs = [session.run(None, {name: onnx_in[i:i + step]})[0] for i in range(0, len(onnx_in), step)]
        flat = np.concatenate(outs).reshape(len(onnx_in), -1)
        spec_order = np.zeros((len(flat), int(order.max()) + 1), flat.dtype)
        spec_order[:, order] = flat  # each model output where the spec computes it
        return spec_order

    error = check_against(practice, run, analysis, False, columns=order)
    return practice, error


def practice_of(path: str, analysis, found: dict, warmup: str = "causal"):
    """(the practice model with the weights of the model at `path`, Keras or ONNX, and its check's relative
    difference from it, or None where the model cannot be run here)."""
    if path.lower().endswith(".onnx"):
        return onnx_practice(path, analysis, found, warmup)
    return keras_practice(path, analysis, found, warmup)


def import_spec(model_path, spec_path, practice_path=None, warmup: str = "causal") -> Analysis:
    """Write the spec of a model file (as `causalc import` does: a per-step or practice-form Keras model, or
    a per-step ONNX model) and return it analysed; with `practice_path`, also the practice model carrying
    the model's weights, checked against the model first (`causalc import --practice`). Raises
    ModelImportError for what causalc cannot express, SpecError for a spec with errors."""
    from convert.importers.keras import import_model

    text, checked, found = import_model(os.fspath(model_path), os.fspath(spec_path))
    if not checked.ok:
        raise SpecError(checked.diagnostics)
    practice = None
    if practice_path is not None:
        practice, _ = practice_of(os.fspath(model_path), checked.analysis, found, warmup)
    with open(spec_path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    if practice is not None:
        practice.save(os.fspath(practice_path))
    return checked.analysis
