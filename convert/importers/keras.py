"""`causalc import`: a per-step Keras model (Sequential or functional, fixed window) to a spec.

Reads the model's configuration as JSON (`config.json` in a `.keras` file, the `model_config` attribute of
an `.h5` file) and never deserializes a layer, so nothing in the file runs: a Lambda is refused by name.
Layers keep their names, fields keep Keras's names, and only fields that differ from their defaults are
written. TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import zipfile

from convert import kinds
from convert.core.errors import BadValue
from convert.frontend.spec import INPUT, Input, Layer, Spec
from convert.kinds.equivalents import KERAS_EQUIVALENTS
from convert.frontend.writer import spec_text
from convert.kinds.fields import ACTIVATIONS, WEIGHT_ARGUMENTS

MAX_CONFIG_BYTES = 8 * 2**20


class ModelImportError(BadValue):
    """The model cannot be written as a spec: says which layer, its class, and what to do instead."""


def read_config(path: str) -> dict:
    """The model's configuration, without loading the model."""
    if not os.path.isfile(path):
        raise ModelImportError(f"{path}: no such file")
    try:
        if path.endswith(".h5"):
            import h5py  # Keras's own dependency; only for the legacy format

            with h5py.File(path, "r") as handle:
                text = handle.attrs.get("model_config")
            if text is None:
                raise ModelImportError(f"{path} holds no model configuration (weights only, as save_weights "
                                       "writes them): save the whole model with model.save(...) and import that")
            if not isinstance(text, (str, bytes)) or len(text) > MAX_CONFIG_BYTES:
                raise ModelImportError(f"{path}: its model_config is not a JSON text of up to "
                                       f"{MAX_CONFIG_BYTES:,} bytes")
        else:
            with zipfile.ZipFile(path) as archive:
                text = archive.read(config_entry(archive, path))
        config = json.loads(text)
    except ModelImportError:
        raise
    except RecursionError:
        raise ModelImportError(f"{path}: its configuration nests deeper than causalc reads; Keras writes a few "
                               "levels") from None
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as error:
        raise ModelImportError(f"{path}: cannot be read as a Keras model ({type(error).__name__}: "
                               f"{str(error).splitlines()[0] if str(error) else 'unreadable'})") from None
    if not isinstance(config, dict) or config.get("class_name") not in ("Sequential", "Functional", "Model"):
        raise ModelImportError(f"{path}: holds no Sequential or functional Keras model")
    _check_structure(config, path)
    return config


def _check_structure(config: dict, path: str) -> None:
    """The parts of a configuration causalc reads have the types Keras writes (ModelImportError otherwise):
    a config object whose layers are objects with a class name and a config object, names that are
    strings, an input shape of integers."""
    def fail(what: str, value) -> None:
        raise ModelImportError(f"{path}: {what}; received {type(value).__name__} {str(value)[:80]!r}: this is not a "
                               "configuration Keras writes")

    model = config.get("config")
    if not isinstance(model, dict):
        fail("the model's `config` must be an object", model)
    layers = model.get("layers") or []
    if not isinstance(layers, list):
        fail("`layers` must be a list", layers)
    for i, entry in enumerate(layers):
        if not isinstance(entry, dict):
            fail(f"layer {i} must be an object", entry)
        if not isinstance(entry.get("class_name"), str):
            fail(f"layer {i}'s `class_name` must be a string", entry.get("class_name"))
        layer_config = entry.get("config") or {}
        if not isinstance(layer_config, dict):
            fail(f"layer {i}'s `config` must be an object", layer_config)
        name = layer_config.get("name") or entry.get("name")
        if name is not None and not isinstance(name, str):
            fail(f"layer {i}'s `name` must be a string", name)
        for key in ("batch_shape", "batch_input_shape"):
            shape = layer_config.get(key)
            if shape is not None and (not isinstance(shape, list) or
                                      not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
                                              for d in shape)):
                fail(f"layer {i}'s `{key}` must be a list of positive integers (or null)", shape)
    shape = model.get("build_input_shape")
    if shape is not None and (not isinstance(shape, list) or not all(d is None or isinstance(d, int) for d in shape)):
        fail("`build_input_shape` must be a list of integers (or null)", shape)


def config_entry(archive: zipfile.ZipFile, path: str) -> zipfile.ZipInfo:
    """A `.keras` archive's config.json, refused (ModelImportError) when larger than MAX_CONFIG_BYTES:
    a small archive can inflate to a configuration that costs gigabytes to parse."""
    info = archive.getinfo("config.json")
    if info.file_size > MAX_CONFIG_BYTES:
        raise ModelImportError(f"{path}: its config.json is {info.file_size:,} bytes (causalc reads up to "
                               f"{MAX_CONFIG_BYTES:,}); refusing to load it")
    return info


def _first(value):
    return value[0] if isinstance(value, (list, tuple)) else value


def _activation(layer_name: str, value) -> str:
    if isinstance(value, dict):  # a registered function: causalc's own square and safe_log
        value = {"causalc>square": "square", "causalc>safe_log": "log"}.get(str(value.get("config")), value)
    if value not in ACTIVATIONS:
        raise ModelImportError(f"layer `{layer_name}`: activation {value!r} is not one causalc knows "
                               f"({', '.join(ACTIVATIONS)})")
    return value


DEFAULT_INITIALIZERS = {"kernel": "GlorotUniform", "depthwise": "GlorotUniform", "pointwise": "GlorotUniform",
                        "bias": "Zeros", "beta": "Zeros", "gamma": "Ones", "moving_mean": "Zeros",
                        "moving_variance": "Ones"}


def _keras_object(key: str, value):
    """A serialized initializer, regularizer or constraint as a spec value; None when it is Keras's default."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    name, config = value.get("class_name"), {k: v for k, v in (value.get("config") or {}).items() if v is not None}
    weight = key.rsplit("_", 1)[0]
    if key.endswith("_initializer") and name == DEFAULT_INITIALIZERS.get(weight) and not config:
        return None
    return {"class_name": name, "config": config}


def _fields(class_name: str, name: str, config: dict) -> dict:
    """A Keras layer's configuration as the kind's fields (values the kind's reader would give)."""
    kind = kinds.KINDS[class_name]
    if config.get("data_format", "channels_last") != "channels_last":
        raise ModelImportError(f"layer `{name}` ({class_name}): data_format must be channels_last")
    axis = config.get("axis")
    if axis is not None and _first(axis) not in (-1, 2):
        raise ModelImportError(f"layer `{name}` ({class_name}): axis {axis!r}; causalc works over channels (-1)")
    if config.get("rms_scaling") or config.get("synchronized") or config.get("noise_shape"):
        raise ModelImportError(f"layer `{name}` ({class_name}): rms_scaling, synchronized and noise_shape are not "
                               "supported")
    values = {}
    for key in kind.own_fields:
        if key == "axis" or key not in config:
            continue
        value = config[key]
        if key in ("kernel_size", "strides", "dilation_rate", "pool_size"):
            value = _first(value)
        elif key == "activation":
            value = _activation(name, value)
        elif key.endswith(WEIGHT_ARGUMENTS):
            value = _keras_object(key, value)
        elif key == "padding" and class_name == "ZeroPadding1D":
            value = list(value) if isinstance(value, (list, tuple)) else [value, value]
        elif key == "padding":
            value = str(value).lower()
        values[key] = value
    if class_name in ("MaxPooling1D", "AveragePooling1D") and values.get("strides") is None:
        values["strides"] = values.get("pool_size")
    for key, field in kind.own_fields.items():  # absent: the spec's default, as the reader fills it
        if key not in values:
            values[key] = field.default_for(values) if field.default is not ... else None
    return values


def _sources(entry: dict, name: str) -> list[str]:
    """The layers a functional layer reads, from its (single) inbound node."""
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise ModelImportError(f"layer `{name}` is applied {len(nodes)} times; a spec layer is applied once")
    if not nodes:
        return []
    if isinstance(nodes[0], list):  # the older format: [[name, node, tensor, kwargs], ...]
        return [item[0] for item in nodes[0]]
    args = nodes[0]["args"]
    found = []

    def walk(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            found.append(value["config"]["keras_history"][0])
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(args)
    return found


def spec_from_config(config: dict, source: str) -> tuple[str, dict]:
    """(the spec's YAML text, what was found: window, channels, layers) of a model configuration."""
    model = config["config"]
    entries = model.get("layers") or []
    sequential = config["class_name"] == "Sequential"
    inputs = [e for e in entries if e.get("class_name") == "InputLayer"]
    if len(inputs) > 1:
        raise ModelImportError("the model has several inputs; `causalc import` reads models of one float input "
                               "(write `inputs:` by hand: README, \"Several inputs: conditioning\")")
    first = inputs[0]["config"] if inputs else (entries[0].get("config") or {}) if entries else {}
    shape = first.get("batch_shape") or first.get("batch_input_shape") or model.get("build_input_shape")
    if not shape or len(shape) != 3 or shape[1] is None or shape[2] is None:
        raise ModelImportError(f"the model's input shape is {shape}; a per-step model takes (batch, window, channels)")
    window, channels = int(shape[1]), int(shape[2])
    alias = {inputs[0]["config"]["name"] if inputs else INPUT: INPUT}
    aligned: set[str] = set()  # causalc's own alignment layers (a model written by `causalc to-step`)
    elementwise: list[str] = []  # Keras merges of tensors it saw as equal shapes
    layers: list[Layer] = []
    previous = INPUT
    for entry in entries:
        class_name, layer_config = entry.get("class_name"), entry.get("config") or {}
        name = layer_config.get("name") or entry.get("name")
        if class_name == "InputLayer":
            continue
        raw = [previous] if sequential else _sources(entry, name)
        sources = [alias.get(s, s) for s in raw]
        if class_name == "Lambda":
            raise ModelImportError(f"layer `{name}` is a Lambda: arbitrary code, refused without being deserialized; "
                                   "write it as supported layers")
        target = tuple(layer_config.get("target_shape") or ())
        if class_name == "Reshape" and (len(target) == 1 or (len(target) == 2 and target[0] == 1)):
            alias[name] = sources[0]  # (batch, c) <-> (batch, 1, c): one position either way, as in a spec
            continue
        if class_name == "Subsample1D":
            conv = next((layer for layer in layers if layer.name == sources[0]), None)
            if conv is not None and conv.type in ("Conv1D", "DepthwiseConv1D", "SeparableConv1D") and \
                    layer_config.get("start", 0) == 0 and conv.config.get("strides") == 1:
                layers[layers.index(conv)] = dataclasses.replace(
                    conv, config={**conv.config, "strides": layer_config.get("stride", 1)})
            else:
                aligned.add(name)  # a merge input's alignment: causalc's own merge rule does it
            alias[name] = sources[0]
            continue
        if class_name not in kinds.KINDS:
            hint = KERAS_EQUIVALENTS.get(class_name, "causalc compiles: " + ", ".join(kinds.KINDS) + ".")
            if class_name.startswith("Causal") or class_name == "DilatedCausalPooling1D":
                hint = "This is a practice model; `causalc import` takes the per-step model (see `causalc to-step`)."
            raise ModelImportError(f"layer `{name}` ({class_name}) has no causalc kind. {hint}")
        if kinds.KINDS[class_name].many_inputs and not aligned.intersection(raw):
            elementwise.append(name)
        layers.append(Layer(name=name, type=class_name, inputs=tuple(sources), config=_fields(class_name, name, layer_config)))
        previous = name
    if not layers:
        raise ModelImportError("the model has no layers")
    outputs = model.get("output_layers")
    if outputs and isinstance(outputs[0], str):  # one output: [name, node, tensor]
        outputs = [outputs]
    if outputs and len(outputs) > 1:
        raise ModelImportError("the model has several outputs; a spec has one")
    output = alias.get(outputs[0][0], outputs[0][0]) if outputs and not sequential else layers[-1].name
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(model.get("name") or "model").removesuffix("_per_step")).lstrip(".")
    same = any(layer.config.get("padding") == "same" or layer.type == "ZeroPadding1D" for layer in layers)
    spec = Spec(name=name, path=source, inputs=(Input(INPUT, channels, window),), layers=tuple(layers), output=output,
                same_padding="exact" if same else None)
    header = f"Imported by causalc from {os.path.basename(source)} (a per-step Keras model, window {window})."
    return spec_text(spec, header=header), {"window": window, "channels": channels, "layers": len(layers),
                                            "spec": spec, "header": header, "elementwise": elementwise}


def import_model(path: str, out_path: str):
    """(the spec text, its Checked result at `out_path`, what was found). The window is left to inference
    when the model's is the smallest that fits; a window that misaligns keeps the lint error, located in
    the written spec."""
    from convert.pipeline import check_text

    config = read_config(path)
    try:
        text, found = spec_from_config(config, path)
    except ModelImportError:
        raise
    except (TypeError, KeyError, AttributeError, IndexError, ValueError, RecursionError) as error:
        # a value of a type or shape Keras never writes, deeper than _check_structure looks
        raise ModelImportError(f"{path}: its configuration holds a value causalc cannot read as Keras writes it "
                               f"({type(error).__name__}: {str(error)[:200]})") from None
    checked = check_text(text, out_path)
    spec = found["spec"]
    unstated = dataclasses.replace(spec, inputs=(dataclasses.replace(spec.inputs[0], window=None),))
    inferred_text = spec_text(unstated, header=found["header"])
    inferred = check_text(inferred_text, out_path)
    if checked.ok and inferred.ok and inferred.analysis.window == found["window"]:
        text, checked = inferred_text, inferred
    if checked.ok:  # Keras merges position by position; causalc aligns grids first: they must agree
        tensors = checked.analysis.tensors
        for name in found["elementwise"]:
            shapes = {(tensors[n].width, tensors[n].grid) for n in checked.analysis.spec.layer(name).inputs}
            if len(shapes) > 1:
                raise ModelImportError(f"layer `{name}` merges tensors of different grids position by position "
                                       f"(width, grid: {sorted(shapes)}); a spec merge aligns grids first, so the "
                                       "spec would compute something else")
    return text, checked, found
