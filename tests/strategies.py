"""Hypothesis strategies that generate valid per-step specs: chains and DAGs over several grids."""

from __future__ import annotations

from hypothesis import strategies as st

ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "elu", "softsign", "swish"]
MAX_GRID = 64


@st.composite
def spec_dicts(draw, max_layers: int = 7) -> dict:
    """A spec as a dict (window not stated); every layer is named and takes explicit inputs."""
    channels = draw(st.integers(1, 3))
    tensors = [("input", channels, 1)]  # (name, channels, grid)
    layers = []

    def pick():
        # prefer recent tensors so chains grow deep, but reach back for skips
        index = draw(st.integers(0, len(tensors) - 1) | st.just(len(tensors) - 1))
        return tensors[index]

    def stride_for(grid):
        stride = draw(st.sampled_from([1, 1, 2, 2, 3]))
        return stride if grid * stride <= MAX_GRID else 1

    for i in range(draw(st.integers(1, max_layers))):
        kind = draw(st.sampled_from(["conv", "conv", "conv", "pool", "dense", "merge", "activation"]))
        name = f"l{i}"
        src, c, g = pick()
        layer = {"name": name, "inputs": src}
        if kind == "conv":
            stride = stride_for(g)
            layer.update(type="Conv1D", filters=draw(st.integers(1, 4)), kernel_size=draw(st.integers(1, 3)),
                         activation=draw(st.sampled_from(ACTIVATIONS)))
            if stride > 1:
                layer["strides"] = stride
            dilation = draw(st.sampled_from([1, 1, 2, 3]))
            if dilation > 1:
                layer["dilation_rate"] = dilation
            if draw(st.booleans()):
                layer["use_bias"] = False
            tensors.append((name, layer["filters"], g * stride))
        elif kind == "pool":
            pool = draw(st.integers(1, 3))
            stride = stride_for(g) if draw(st.booleans()) else None
            layer.update(type=draw(st.sampled_from(["MaxPooling1D", "AveragePooling1D", "MaxPool1D", "AvgPool1D"])),
                         pool_size=pool)
            if stride is not None:
                layer["strides"] = stride
            grid = g * (stride or pool)
            if grid > MAX_GRID:
                layer["strides"], grid = 1, g
            tensors.append((name, c, grid))
        elif kind == "dense":
            layer.update(type="Dense", units=draw(st.integers(1, 4)), activation=draw(st.sampled_from(ACTIVATIONS)))
            tensors.append((name, layer["units"], g))
        elif kind == "activation":
            layer.update(type="Activation", activation=draw(st.sampled_from(ACTIVATIONS)))
            tensors.append((name, c, g))
        else:
            others = [t for t in tensors if max(g, t[2]) % min(g, t[2]) == 0]
            chosen = [(src, c, g)] + draw(st.lists(st.sampled_from(others), min_size=1, max_size=2))
            grids = [t[2] for t in chosen]
            chosen = [t for t in chosen if max(grids) % t[2] == 0]
            same = [t for t in chosen if t[1] == c]
            merge = draw(st.sampled_from(["Add", "Multiply", "Concatenate"]))
            if merge != "Concatenate" and len(same) >= 2:
                chosen = same
            else:
                merge = "Concatenate"
            if len(chosen) < 2:
                chosen = [(src, c, g), (src, c, g)]
            layer.update(type=merge, inputs=[t[0] for t in chosen])
            channel_count = sum(t[1] for t in chosen) if merge == "Concatenate" else c
            tensors.append((name, channel_count, max(t[2] for t in chosen)))
        layers.append(layer)
    head = draw(st.sampled_from(["none", "flatten", "flatten2"]))
    if head != "none":
        layers.append({"name": "flatten", "type": "Flatten"})
        layers.append({"name": "head", "type": "Dense", "units": draw(st.integers(1, 3)),
                       "activation": draw(st.sampled_from(ACTIVATIONS))})
        if head == "flatten2":
            layers.append({"name": "out", "type": "Dense", "units": 2})
    return {"name": "generated", "input": {"channels": channels}, "layers": layers}
