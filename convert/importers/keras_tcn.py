"""keras-tcn's `TCN` layer read from its configuration, without importing keras-tcn: the residual blocks it
builds, as spec layers, and where their weights lie in a `.keras` file.

keras-tcn (3.x) builds, for every stack and dilation d, a residual block over its input h:

    x1 = h -> [Conv1D(nb_filters, kernel_size, d, causal) -> norm? -> Activation -> SpatialDropout1D] x 2
         -> Activation                                     (keras-tcn's `Act_Conv_Blocks`)
    x2 = h, or a 1x1 Conv1D when the channels differ       (`matching_conv1D`)
    out = Activation(x2 + x1);  skip = x1

and returns the sum of the skips (use_skip_connections) or the last block's output, every step or the
last (return_sequences); with skip connections, the last block's residual output reaches nothing and is
not written. The spec names each layer `{tcn}_b{block}_{part}`.
"""

from __future__ import annotations

from convert.frontend.spec import Layer
from convert.importers.keras_layers import ModelImportError, fields

NORMS = {"use_batch_norm": "BatchNormalization", "use_layer_norm": "LayerNormalization"}


def _layer(name: str, type_name: str, inputs, config: dict) -> Layer:
    return Layer(name=name, type=type_name, inputs=tuple(inputs), config=fields(type_name, name, config, True))


def tcn_layers(entry: dict, name: str, source: str) -> tuple[list[Layer], dict[str, tuple[str, ...]]]:
    """(the spec layers of a TCN layer reading `source`, each weighted spec layer's path in the TCN's weights)."""
    config = entry.get("config") or {}
    if config.get("padding", "causal") != "causal":
        raise ModelImportError(f"layer `{name}` (TCN): padding {config.get('padding')!r} looks at future steps; a causal "
                               "model needs padding='causal'")
    if config.get("go_backwards") or config.get("return_state"):
        raise ModelImportError(f"layer `{name}` (TCN): go_backwards and return_state have no causal reading")
    if config.get("use_weight_norm"):
        raise ModelImportError(f"layer `{name}` (TCN): weight normalisation is not read; fold it into the kernels "
                               "(kernel = g * v / |v|) and save a TCN without it")
    shape = (entry.get("build_config") or {}).get("input_shape") or []
    if not shape or shape[-1] is None:
        raise ModelImportError(f"layer `{name}` (TCN): its input's channels are not in the file (build_config)")
    channels = int(shape[-1])
    dilations = [int(d) for d in config.get("dilations", (1, 2, 4, 8, 16, 32))]
    stacks = int(config.get("nb_stacks", 1))
    filters = config.get("nb_filters", 64)
    filters = list(filters) if isinstance(filters, list) else [filters] * len(dilations)
    kernel_size = int(config.get("kernel_size", 3))
    activation = config.get("activation", "relu")
    rate = float(config.get("dropout_rate", 0.0) or 0.0)
    init = config.get("kernel_initializer", "he_normal")
    norm = next((cls for key, cls in NORMS.items() if config.get(key)), None)
    layers: list[Layer] = []
    paths: dict[str, tuple[str, ...]] = {}
    skips = []
    h = source
    block = 0
    for _ in range(stacks):
        for i, dilation in enumerate(dilations):
            prefix = f"{name}_b{block}"
            x = h
            for k in range(2):
                conv = f"{prefix}_conv{k}"
                layers.append(_layer(conv, "Conv1D", [x], {"filters": filters[i], "kernel_size": kernel_size,
                                                           "dilation_rate": dilation, "padding": "causal",
                                                           "kernel_initializer": init}))
                paths[conv] = (f"residual_block_{block}", f"conv1D_{k}")
                x = conv
                if norm:
                    layers.append(_layer(f"{prefix}_norm{k}", norm, [x], {}))
                    group = "batch_norm_layers" if norm == "BatchNormalization" else "layer_norm_layers"
                    leaf = "batch_normalization" if norm == "BatchNormalization" else "layer_normalization"
                    paths[f"{prefix}_norm{k}"] = (f"residual_block_{block}", group, leaf + ("_1" if k else ""))
                    x = f"{prefix}_norm{k}"
                layers.append(_layer(f"{prefix}_act{k}", "Activation", [x], {"activation": activation}))
                x = f"{prefix}_act{k}"
                if rate > 0:
                    layers.append(_layer(f"{prefix}_drop{k}", "SpatialDropout1D", [x], {"rate": rate}))
                    x = f"{prefix}_drop{k}"
            layers.append(_layer(f"{prefix}_acts", "Activation", [x], {"activation": activation}))
            x1 = f"{prefix}_acts"
            x2 = h
            if filters[i] != channels:
                layers.append(_layer(f"{prefix}_match", "Conv1D", [h], {"filters": filters[i], "kernel_size": 1,
                                                                         "kernel_initializer": init}))
                paths[f"{prefix}_match"] = (f"residual_block_{block}", "matching_conv1D")
                x2 = f"{prefix}_match"
            layers.append(_layer(f"{prefix}_add", "Add", [x2, x1], {}))
            layers.append(_layer(f"{prefix}_out", "Activation", [f"{prefix}_add"], {"activation": activation}))
            h, channels = f"{prefix}_out", filters[i]
            skips.append(x1)
            block += 1
    if config.get("use_skip_connections", True):
        last = f"{name}_b{block - 1}_"  # the last block's residual output reaches nothing: not written
        dead = {last + "add", last + "out", last + "match"}
        layers = [layer for layer in layers if layer.name not in dead]
        if len(skips) > 1:
            layers.append(_layer(f"{name}_skips", "Add", skips, {}))
        else:
            layers.append(_layer(f"{name}_skips", "Activation", skips, {"activation": "linear"}))
    return layers, paths
