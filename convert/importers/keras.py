"""`causalc import`: a per-step Keras model (Sequential or functional, fixed window) to a spec.

Reads the model's configuration as JSON (`config.json` in a `.keras` file, the `model_config` attribute of
an `.h5` file) and never deserializes a layer, so nothing in the file runs: a Lambda is refused by name.
Layers keep their names, fields keep Keras's names, and only fields that differ from their defaults are
written. TensorFlow-free.
"""

from __future__ import annotations

import json
import os
import re
import zipfile

from convert import kinds
from convert.core.records import replace
from convert.frontend.spec import INPUT, Input, Layer, Spec
from convert.frontend.writer import spec_text
from convert.importers.keras_layers import (ModelImportError, config_of, container_names, fields, inner_layer,
                                            practice_form, practice_problem, unsupported)
from convert.importers.keras_tcn import tcn_layers

MAX_CONFIG_BYTES = 8 * 2**20


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


def _input_layers(model: dict, entries: list, sequential: bool) -> list[dict]:
    """The model's InputLayer entries in the order the model takes them."""
    inputs = [e for e in entries if e.get("class_name") == "InputLayer"]
    order = model.get("input_layers")
    if sequential or not order or not isinstance(order, list):
        return inputs
    if isinstance(order[0], str):  # one input: [name, node, tensor]
        order = [order]
    by_name = {(e.get("config") or {}).get("name") or e.get("name"): e for e in inputs}
    listed = [by_name[item[0]] for item in order if isinstance(item, list) and item and item[0] in by_name]
    return listed if len(listed) == len(inputs) else inputs


def _spec_inputs(model: dict, entries: list, sequential: bool, practice: bool) -> tuple[list[Input], dict, int | None]:
    """(the spec's inputs, Keras input name -> spec name, the window). A (batch, W, C) input is a sequence,
    (batch, C) a global vector, and an integer (batch, W) input the categories an Embedding reads."""
    layers = _input_layers(model, entries, sequential)
    if not layers:
        first = (entries[0].get("config") or {}) if entries else {}
        layers = [{"config": {**first, "name": INPUT}}]  # a Sequential built from the first layer's shape
        if not (first.get("batch_shape") or first.get("batch_input_shape")):
            layers[0]["config"]["batch_shape"] = model.get("build_input_shape")
    out, alias, windows = [], {}, set()
    for entry in layers:
        config = entry.get("config") or {}
        keras_name = config.get("name") or entry.get("name") or INPUT
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        name = INPUT if len(layers) == 1 else re.sub(r"[^A-Za-z0-9_]", "_", keras_name)
        alias[keras_name] = name
        integer = str(config.get("dtype", "float32")).startswith(("int", "uint"))
        if shape and len(shape) == 3 and shape[2] is not None and not integer:
            window = None if practice else shape[1]
            if window is None and not practice:
                raise ModelImportError(f"input `{keras_name}` has shape {shape}: a per-step model takes a fixed "
                                       "window (batch, W, channels)")
            windows.add(window)
            out.append(Input(name, int(shape[2]), window))
        elif shape and len(shape) == 2 and shape[1] is not None and not integer and len(layers) > 1:
            out.append(Input(name, int(shape[1]), None, is_global=True))
        elif shape and len(shape) == 2 and integer:
            categories = _embedding_size(entries, keras_name, sequential)
            out.append(Input(name, categories, None if practice else shape[1], categories=categories))
            windows.add(None if practice else shape[1])
        else:
            what = "a per-step model takes (batch, window, channels)" if not practice else \
                "a practice-form model takes (batch, time, channels)"
            raise ModelImportError(f"the model's input `{keras_name}` has shape {shape}; {what}")
    if len(windows) > 1:
        raise ModelImportError(f"the model's sequence inputs take windows {sorted(windows)}; a spec's sequence inputs "
                               "share one window")
    if not any(node.sequence for node in out):
        raise ModelImportError("the model has no sequence input (batch, window, channels)")
    window = next(iter(windows), None)
    return [replace(node, window=window) if node.sequence and not node.categories else node
            for node in out], alias, window


def _embedding_size(entries: list, input_name: str, sequential: bool) -> int:
    """An integer input's categories: the input_dim of the Embedding that reads it."""
    for entry in entries:
        if entry.get("class_name") == "Embedding" and (sequential or input_name in _sources(entry, "")):
            return int((entry.get("config") or {}).get("input_dim"))
    raise ModelImportError(f"the integer input `{input_name}` is read by no Embedding; causalc reads integer inputs "
                           "through an Embedding")


def spec_from_config(config: dict, source: str) -> tuple[str, dict]:
    """(the spec's YAML text, what was found: window, channels, layers) of a model configuration. Every
    layer that cannot be read is listed in one error."""
    model = config["config"]
    entries = model.get("layers") or []
    sequential = config["class_name"] == "Sequential"
    practice = practice_form(entries)
    nodes, alias, window = _spec_inputs(model, entries, sequential, practice)
    aligned: set[str] = set()  # causalc's own alignment layers (a model written by `causalc to-step`)
    elementwise: list[str] = []  # Keras merges of tensors it saw as equal shapes
    shared: dict[str, object] = {}  # PReLU layers: their shared_axes
    layers: list[Layer] = []
    problems: list[str] = []
    stored: dict[str, tuple[str, ...]] = {}  # TCN layers: where their weights lie in the .keras file
    containers = container_names(entries)
    previous = nodes[0].name
    for entry in entries:
        class_name, layer_config = entry.get("class_name"), entry.get("config") or {}
        name = layer_config.get("name") or entry.get("name")
        if class_name == "InputLayer":
            continue
        raw = [previous] if sequential else _sources(entry, name)
        sources = [alias.get(s, s) for s in raw]
        target = tuple(layer_config.get("target_shape") or ())
        if class_name == "Reshape" and (len(target) == 1 or (len(target) == 2 and target[0] == 1)):
            alias[name] = sources[0]  # (batch, c) <-> (batch, 1, c): one position either way, as in a spec
            continue
        if class_name == "Subsample1D":
            conv = next((layer for layer in layers if layer.name == sources[0]), None)
            if conv is not None and conv.type in ("Conv1D", "DepthwiseConv1D", "SeparableConv1D") and \
                    layer_config.get("start", 0) == 0 and conv.config.get("strides") == 1:
                layers[layers.index(conv)] = replace(
                    conv, config={**conv.config, "strides": layer_config.get("stride", 1)})
            else:
                aligned.add(name)  # a merge input's alignment: causalc's own merge rule does it
            alias[name] = sources[0]
            continue
        if class_name == "TCN" and not problems:
            try:
                expanded, paths = tcn_layers(entry, name, sources[0])
            except ModelImportError as error:
                problems.append(str(error))
                alias[name] = sources[0]
                continue
            layers.extend(expanded)
            stored.update({layer: (containers[name], *path) for layer, path in paths.items()})
            previous = alias[name] = expanded[-1].name if config_of(entry).get("use_skip_connections", True) \
                else next(layer.name for layer in reversed(expanded) if layer.name.endswith("_out"))
            continue
        try:
            if class_name == "TimeDistributed":
                class_name, layer_config = inner_layer(entry, name)
            if class_name not in kinds.KINDS:
                raise ModelImportError(unsupported(class_name, name))
            values = fields(class_name, name, layer_config, practice)
            problem = practice_problem(class_name, name, layer_config, values) if practice else None
            if problem:
                raise ModelImportError(problem)
        except ModelImportError as error:
            problems.append(str(error))
            alias[name] = sources[0] if sources else previous  # read on, to list every problem at once
            continue
        if class_name == "PReLU":
            shared[name] = layer_config.get("shared_axes")
        if kinds.KINDS[class_name].many_inputs and not aligned.intersection(raw):
            elementwise.append(name)
        layers.append(Layer(name=name, type=class_name, inputs=tuple(sources), config=values))
        previous = name
    if problems:
        count = f"{len(problems)} layers cannot be read" if len(problems) > 1 else "a layer cannot be read"
        raise ModelImportError(f"{count}:\n" + "\n".join(f"  - {p}" for p in problems))
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
    spec = Spec(name=name, path=source, inputs=tuple(nodes), layers=tuple(layers), output=output,
                same_padding="exact" if same else None)
    form = "a practice-form Keras model: its window is the receptive field" if practice else \
        f"a per-step Keras model, window {window}"
    header = f"Imported by causalc from {os.path.basename(source)} ({form})."
    channels = sum(node.channels for node in nodes if node.sequence)
    return spec_text(spec, header=header), {"window": window, "channels": channels, "layers": len(layers),
                                            "spec": spec, "header": header, "elementwise": elementwise,
                                            "practice_form": practice, "shared_axes": shared, "stored": stored,
                                            "containers": containers}

def import_model(path: str, out_path: str):
    """(the spec text, its Checked result at `out_path`, what was found). The window is left to inference
    when the model's is the smallest that fits; a window that misaligns keeps the lint error, located in
    the written spec."""
    from convert.pipeline import check_text

    if path.lower().endswith(".onnx"):
        from convert.importers.onnx_model import spec_from_onnx

        text, found = spec_from_onnx(path)
    else:
        config = read_config(path)
        try:
            text, found = spec_from_config(config, path)
        except ModelImportError:
            raise
        except (TypeError, KeyError, AttributeError, IndexError, ValueError, RecursionError) as error:
            # a value of a type or shape Keras never writes, deeper than _check_structure looks
            raise ModelImportError(f"{path}: its configuration holds a value causalc cannot read as Keras writes "
                                   f"it ({type(error).__name__}: {str(error)[:200]})") from None
    checked = check_text(text, out_path)
    if not found["practice_form"] and not path.lower().endswith(".onnx"):
        text, checked = _floors(text, checked, found, out_path)
    spec = found["spec"]
    if not found["practice_form"]:
        unstated = replace(spec, inputs=tuple(replace(node, window=None)
                                                          for node in spec.inputs))
        inferred_text = spec_text(unstated, header=found["header"])
        inferred = check_text(inferred_text, out_path)
        if checked.ok and inferred.ok and inferred.analysis.window == found["window"]:
            text, checked = inferred_text, inferred
    if checked.ok:
        _check_readings(checked.analysis, found)
        found["window"] = checked.analysis.window
    return text, checked, found


MISALIGNED = re.compile(r"misaligns `([^`]+)`.*\(remainder (\d+)\)")


def _floors(text: str, checked, found: dict, out_path: str):
    """Keras's strided layers read floor((n - extent) / stride) + 1 windows, leaving the newest leftovers
    unread; the spec says so with a Cropping1D before each such layer (a delay in practice), until the
    window fits exactly."""
    from convert.pipeline import check_text

    spec = found["spec"]
    for _ in range(len(spec.layers) + 1):
        misaligned = [MISALIGNED.search(d.message) for d in checked.diagnostics if d.code == "E202"]
        misaligned = [m for m in misaligned if m]
        if not misaligned:
            break
        name, left = misaligned[0].group(1), int(misaligned[0].group(2))
        layers = list(spec.layers)
        index = next(i for i, layer in enumerate(layers) if layer.name == name)
        crop = Layer(name=f"{name}_floor", type="Cropping1D", inputs=(layers[index].inputs[0],),
                     config={"cropping": [0, left]})
        layers[index] = replace(layers[index], inputs=(crop.name,) + layers[index].inputs[1:])
        layers.insert(index, crop)
        spec = replace(spec, layers=tuple(layers))
        text = spec_text(spec, header=found["header"])
        checked = check_text(text, out_path)
    found["spec"], found["layers"] = spec, len(spec.layers)
    return text, checked


def _check_readings(analysis, found: dict) -> None:
    """What Keras computes and the spec says agree where the spec's rules could differ: Keras merges
    position by position (causalc aligns grids first), and a PReLU's alpha is shared by every position."""
    tensors = analysis.tensors
    if not found["practice_form"]:  # (a practice-form model has one grid: its merges align by step as Keras's)
        constant = {node.name for node in analysis.spec.inputs if node.is_global}  # the same at every position
        for name in found.get("elementwise", ()):
            shapes = {(tensors[n].width, tensors[n].grid) for n in analysis.spec.layer(name).inputs
                      if n not in constant}
            if len(shapes) > 1:
                raise ModelImportError(f"layer `{name}` merges tensors of different grids position by position "
                                       f"(width, grid: {sorted(shapes)}); a spec merge aligns grids first, so the "
                                       "spec would compute something else")
    for name, axes in found.get("shared_axes", {}).items():
        flat = tensors[analysis.spec.layer(name).inputs[0]].flat
        if list(axes or []) != ([] if flat else [1]):
            want = "no shared_axes (its input has no positions)" if flat else "shared_axes=[1] (one alpha per channel)"
            raise ModelImportError(f"layer `{name}` (PReLU) has shared_axes={axes}: its alpha differs "
                                   f"{'across channels' if flat else 'from position to position'}, which a causal "
                                   f"model cannot carry; build it with {want}")
