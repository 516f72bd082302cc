"""The Python API: load a spec, build the practice and per-step models, carry weights either way.

    import convert.api as causalc
    practice = causalc.practice_model("specs/wavenet.yaml")          # train this
    step = causalc.to_step(practice, "specs/wavenet.yaml")            # one window -> one prediction
    again = causalc.from_step(step, "specs/wavenet.yaml")             # the same weights, bit for bit

Weights move by the weight map (`weight_map`), the same data `causalc compile` writes to STEM.map.json.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from convert.core.errors import BadValue
from convert.analysis import Analysis
from convert.core.diagnostics import SpecError
from convert.backends.keras_model import build_model
from convert.backends.weight_map import weight_map as _weight_map
from convert.lowering import WARMUPS, lower, per_step_graph
from convert.pipeline import check


class WeightMismatch(BadValue):
    """A Keras model does not match the spec: names the first mismatch with expected and found values."""


class ModelFileError(BadValue):
    """A file could not be read as a Keras model."""


def load(spec) -> Analysis:
    """The analysed spec (a path or an Analysis); raises SpecError with every diagnostic."""
    if isinstance(spec, Analysis):
        return spec
    checked = check(os.fspath(spec))
    if not checked.ok:
        raise SpecError(checked.diagnostics)
    return checked.analysis


def practice_model(spec, warmup: str = "causal") -> keras.Model:
    """A fresh practice model: (batch, T, C) -> (batch, T, units)."""
    return build_model(lower(load(spec), warmup))


def per_step_model(spec) -> keras.Model:
    """A fresh per-step model: (batch, W, C) -> (batch, units)."""
    return build_model(per_step_graph(load(spec)))


def weight_map(spec, warmup: str = "causal") -> dict:
    analysis = load(spec)
    return _weight_map(lower(analysis, warmup), per_step_graph(analysis))


def load_model(path) -> keras.Model:
    """A saved Keras model (safe mode), or ModelFileError saying why it cannot be read. The file is checked
    first (a regular file; a `.keras` zip archive whose configuration is of bounded size, or HDF5 `.h5`),
    so that Keras never meets an empty, truncated or inflated file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: is a folder, not a model file")
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file")
    _check_model_file(path)
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # Keras raises many kinds for a file that is not a model
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path}: cannot be read as a Keras model ({_shorten(reason)})") from None
    if not isinstance(model, keras.Model):
        raise ModelFileError(f"{path}: holds a {type(model).__name__}, not a Keras model")
    return model


def check_compiled_from(model_path, spec) -> None:
    """A practice model compiled by causalc has its weight map beside it (STEM.map.json), and a per-step
    model may have one copied beside it: when it is there, its spec sha256 must be this spec's, or the model
    belongs to another network (whose weight shapes might happen to match)."""
    import json

    from convert.frontend.source import read_bytes
    from convert.frontend.writer import canonical_sha256

    analysis = load(spec)
    beside = os.path.splitext(os.fspath(model_path))[0] + ".map.json"
    try:
        written = json.loads(read_bytes(beside, 2**24)).get("spec", {}).get("sha256")
    except (OSError, ValueError, AttributeError):
        return  # no map beside it (a model saved some other way): the weight shapes are checked as always
    if written and written != canonical_sha256(analysis):
        raise WeightMismatch(f"{model_path} was compiled from another spec: its weight map {beside} names spec "
                             f"sha256 {written[:12]}..., and {analysis.spec.path or 'this spec'} is "
                             f"{canonical_sha256(analysis)[:12]}...")


def load_fitting(model_path, spec, warmup: str | None = None) -> keras.Model:
    """The model at `model_path`, checked to be `spec`'s practice model (compiled with `warmup`, when
    given) before anything uses it: every weight where the weight map says; an error names the model and
    the spec when they do not fit."""
    analysis = load(spec)
    model = load_model(model_path)
    try:
        check_compiled_from(model_path, analysis)  # when a weight map is beside the model, it must be this spec's
        if warmup is not None:
            check_warmup(model, analysis, warmup)
        practice_weights(model, analysis)
    except WeightMismatch as error:
        raise error.with_context(f"{model_path} does not fit {analysis.spec.path}: ")
    return model


def check_warmup(model: keras.Model, analysis, warmup: str) -> str:
    """`warmup`, once the model's layers are those the spec lowers to in that mode; a model compiled in
    the other mode is an error that says so."""
    if warmup not in WARMUPS:
        raise BadValue(f"`warmup` must be one of {WARMUPS}; received {warmup!r}")
    names = {layer.name for layer in model.layers if type(layer).__name__ != "InputLayer"}

    def expected(mode: str) -> set[str]:
        return {layer.name for layer in lower(analysis, mode).layers}

    if names != expected(warmup):
        other = next(mode for mode in WARMUPS if mode != warmup)
        if names == expected(other):
            raise WeightMismatch(f"the model was compiled with warm-up {other!r}, not {warmup!r}: "
                                     f"pass warmup={other!r} (--warmup {other})")
        extra, missing = sorted(names - expected(warmup)), sorted(expected(warmup) - names)
        raise WeightMismatch(f"the model's layers are not those of the spec's practice model "
                                 f"(unexpected: {', '.join(extra) or 'none'}; missing: {', '.join(missing) or 'none'})")
    return warmup


def _shorten(text: str, limit: int = 300) -> str:
    """At most `limit` characters, cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def _check_model_file(path: str) -> None:
    import zipfile

    from convert.importers.keras import ModelImportError, config_entry

    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"\x89HDF"):
        return
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a Keras model file ({'empty' if not head else 'not a .keras zip archive'})")
    try:
        with zipfile.ZipFile(path) as archive:
            config_entry(archive, path)
            if archive.testzip() is not None:
                raise ModelFileError(f"{path}: a damaged .keras archive")
    except ModelImportError as error:
        raise ModelFileError(str(error)) from None
    except (KeyError, zipfile.BadZipFile, OSError, EOFError) as error:
        raise ModelFileError(f"{path}: not a complete .keras archive ({type(error).__name__})") from None


def _shape_text(weights: dict) -> str:
    return ", ".join(f"{name} {tuple(shape)}" for name, shape in weights.items())


def _check_inputs(source: keras.Model, nodes) -> None:
    """The model takes the spec's inputs: as many, each with its channels (an integer input none)."""
    found = [tuple(tensor.shape[1:]) for tensor in source.inputs]
    if len(found) != len(nodes):
        raise WeightMismatch(f"the spec has {len(nodes)} input(s) ({', '.join(n.name for n in nodes)}); "
                             f"the model takes {len(found)}")
    for node, shape in zip(nodes, found):
        rank = (0 if node.is_global else 1) + (0 if node.categories else 1)
        if len(shape) != rank or not (node.categories or shape[-1] == node.channels):
            what = "integers (no channel axis)" if node.categories else f"{node.channels} channel(s)"
            found_text = shape[-1] if len(shape) == rank else f"shape {('batch',) + shape}"
            raise WeightMismatch(f"input `{node.name}`: expected {what}; found {found_text}")


def _read(source: keras.Model, entries: list, side: str, nodes) -> list[list[np.ndarray]]:
    """Each map entry's weights from `source`, checked against the map: the first mismatch is an error."""
    _check_inputs(source, nodes)
    out = []
    for entry in entries:
        want = entry[side]
        try:
            layer = source.get_layer(want["name"])
        except ValueError:
            raise WeightMismatch(f"layer `{want['name']}`: expected a {want['class']} layer with "
                                 f"{_shape_text(want['weights'])}; found no layer of that name") from None
        if type(layer).__name__ != want["class"]:
            raise WeightMismatch(f"layer `{want['name']}`: expected class {want['class']}; "
                                 f"found {type(layer).__name__}")
        values = layer.get_weights()
        shapes = [list(v.shape) for v in values]
        if shapes != list(want["weights"].values()):
            found = ", ".join(str(tuple(s)) for s in shapes) or "no weights"
            raise WeightMismatch(f"layer `{want['name']}`: expected {_shape_text(want['weights'])}; found {found}")
        out.append(values)
    unmapped = sorted({layer.name for layer in source.layers if layer.weights} - {e[side]["name"] for e in entries})
    if unmapped:  # weights nothing would carry: a model of another network, or a kind that declares no weights
        raise WeightMismatch(f"layer(s) {', '.join(f'`{n}`' for n in unmapped)} hold weights that the spec's "
                             "weight map does not describe")
    return out


def practice_weights(model: keras.Model, spec) -> dict[str, list[np.ndarray]]:
    """A practice model's weights by layer name, checked against the spec's weight map."""
    analysis = load(spec)
    entries = weight_map(analysis)["layers"]
    values = _read(model, entries, "practice", analysis.spec.inputs)
    return {entry["practice"]["name"]: v for entry, v in zip(entries, values)}


def _move(source: keras.Model, target: keras.Model, entries: list, frm: str, to: str, nodes) -> None:
    for entry, values in zip(entries, _read(source, entries, frm, nodes)):
        put = entry[to]
        target.get_layer(put["name"]).set_weights(
            [np.reshape(v, shape) for v, shape in zip(values, put["weights"].values())])


def to_step(practice: keras.Model, spec) -> keras.Model:
    """The per-step model holding a practice model's weights."""
    analysis = load(spec)
    step = per_step_model(analysis)
    _move(practice, step, weight_map(analysis)["layers"], "practice", "per_step", analysis.spec.inputs)
    return step


def from_step(step: keras.Model, spec, warmup: str = "causal") -> keras.Model:
    """The practice model holding a per-step model's weights."""
    analysis = load(spec)
    practice = practice_model(analysis, warmup)
    _move(step, practice, weight_map(analysis, warmup)["layers"], "per_step", "practice", analysis.spec.inputs)
    return practice
