"""Hypothesis strategies that generate valid per-step specs: chains and DAGs over several grids.

Besides single layers, the generator draws motifs that reach paths plain random layers seldom do:
- `shared`: two windowed layers of different reach reading one tensor (one streaming ring, sized for the
  longer reach);
- `crop`: a stride-2 pool and an odd convolution of one tensor concatenated, so that the merge drops old
  positions and the window can exceed the receptive field (exact warm-up's final crop);
- heads: Flatten + Dense, followed by more layers, or two heads over different tensors merged.
`test_strategies.py` measures how often each path is drawn.
"""

from __future__ import annotations

from hypothesis import strategies as st

# every activation but `exponential` (chained, it overflows float32) and `log` (near 0 it turns float32
# rounding into errors far above 1e-5 of the output's scale); a fixed chain in test_keras_generated covers both
ACTIVATIONS = ["linear", "relu", "relu6", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus", "softsign",
               "swish", "silu", "softmax", "log_softmax", "gelu", "leaky_relu", "mish", "log_sigmoid", "hard_silu",
               "square"]
POSITIONWISE = ["BatchNormalization", "LayerNormalization", "Dropout", "SpatialDropout1D", "Rescaling",
                "BatchNormalization", "LayerNormalization"]  # normalisation drawn as often as the rest
ACTIVATION_LAYERS = ["ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU"]  # Keras's layers with arguments
MAX_GRID = 64
POOLS = ["MaxPooling1D", "AveragePooling1D", "MaxPool1D", "AvgPool1D"]


@st.composite
def spec_dicts(draw, max_layers: int = 7, same: bool = False, conditioned: bool = False) -> dict:
    """A spec as a dict (window not stated); every layer is named and takes explicit inputs. With `same`,
    the spec says `same_padding: exact`, about half the convolutions and pools pad 'same' and ZeroPadding1D
    layers appear. With `conditioned`, `inputs:` lists the signal (perhaps categorical) and one to three
    conditioning inputs (hop frames, global vectors or ids, categorical sequences), read one-hot or through
    an Embedding anywhere in the graph, and merged into it before the head."""
    channels = draw(st.integers(1, 3))
    nodes = [{"name": "input", "channels": channels}]
    if conditioned and draw(st.booleans()):
        channels = draw(st.integers(2, 5))
        nodes = [{"name": "input", "categories": channels}]
    tensors = [("input", channels, 1)]  # (name, channels, grid)
    layers = []

    def pick():
        # prefer recent tensors so chains grow deep, but reach back for skips
        index = draw(st.integers(0, len(tensors) - 1) | st.just(len(tensors) - 1))
        return tensors[index]

    extra = []  # conditioning tensors, merged before the head
    for index in range(draw(st.integers(1, 3)) if conditioned else 0):
        kind = draw(st.sampled_from(["hop", "global", "global-id", "categories"]))
        name = f"c{index}"
        if kind in ("global-id", "categories"):
            node = {"name": name, "categories": draw(st.integers(2, 4))}
            node.update({"global": True} if kind == "global-id" else {})
            width = node["categories"]
        else:
            width = draw(st.integers(1, 3))
            node = {"name": name, "channels": width}
            node.update({"hop": draw(st.integers(1, 5))} if kind == "hop" else {"global": True})
        nodes.append(node)
        extra.append((name, width, 1))
    embedded = []
    for name, width, grid in [tensors[0]] + extra:
        node = next(n for n in nodes if n["name"] == name)
        if node.get("categories") and draw(st.booleans()):
            dim = draw(st.integers(1, 3))
            layer = {"type": "Embedding", "inputs": name, "input_dim": node["categories"] + draw(st.integers(0, 1)),
                     "output_dim": dim, "name": f"l{len(layers)}"}
            layers.append(layer)
            embedded.append((name, (layer["name"], dim, grid)))
    for name, tensor in embedded:  # the embedded tensor replaces the input where layers read it
        if name == "input":
            tensors.append(tensor)
        else:
            extra[[e[0] for e in extra].index(name)] = tensor
    if conditioned:
        tensors.extend(extra)  # the body may read the conditioning too

    def stride_for(grid):
        stride = draw(st.sampled_from([1, 1, 2, 2, 3]))
        return stride if grid * stride <= MAX_GRID else 1

    def activation():
        return draw(st.sampled_from(ACTIVATIONS))

    def add(layer, channel_count, grid):
        layer["name"] = f"l{len(layers)}"
        layers.append(layer)
        tensors.append((layer["name"], channel_count, grid))
        return tensors[-1]

    def conv(src, kernel=None, stride=None, kind="Conv1D"):
        _, c, g = src
        stride = stride_for(g) if stride is None else stride
        layer = {"type": kind, "inputs": src[0], "kernel_size": kernel or draw(st.integers(1, 3)),
                 "activation": activation()}
        if kind != "DepthwiseConv1D":
            layer["filters"] = draw(st.integers(1, 4))
        if kind == "Conv1D" and c > 1 and draw(st.booleans()):
            groups = draw(st.sampled_from([g for g in range(2, c + 1) if c % g == 0]))
            layer.update(groups=groups, filters=groups * draw(st.integers(1, 2)))
        if kind != "Conv1D" and draw(st.booleans()):
            layer["depth_multiplier"] = draw(st.integers(1, 2))
        if stride > 1:
            layer["strides"] = stride
        dilation = draw(st.sampled_from([1, 1, 2, 3]))
        if dilation > 1:
            layer["dilation_rate"] = dilation
        if draw(st.booleans()):
            layer["use_bias"] = False
        if same and draw(st.booleans()):
            layer["padding"] = "same"
        channels = layer.get("filters") or c * layer.get("depth_multiplier", 1)
        return add(layer, channels, g * stride)

    def activation_layer(src):
        _, c, g = src
        kind = draw(st.sampled_from(ACTIVATION_LAYERS))
        layer = {"type": kind, "inputs": src[0]}
        if kind == "ReLU":
            layer.update(draw(st.sampled_from([{}, {"max_value": 1.5}, {"negative_slope": 0.1, "threshold": 0.5}])))
        elif kind == "LeakyReLU":
            layer["negative_slope"] = draw(st.sampled_from([0.01, 0.3]))
        elif kind == "ELU":
            layer["alpha"] = draw(st.sampled_from([0.5, 1.0]))
        elif kind == "PReLU":
            layer["alpha_initializer"] = {"class_name": "RandomUniform", "config": {"minval": -1.0, "maxval": 1.0}}
        return add(layer, c, g)

    def positionwise(src):
        _, c, g = src
        kind = draw(st.sampled_from(POSITIONWISE))
        before = draw(st.sampled_from(["activation layer", "crop", None, None, None]))
        if before == "activation layer":  # one of Keras's activation layers first
            src = activation_layer(src)
        elif before == "crop":  # a crop (of the newest: a delay in practice)
            cropping = draw(st.sampled_from([[0, 1], [1, 0], [0, 2], [1, 1]]))
            src = add({"type": "Cropping1D", "inputs": src[0], "cropping": cropping}, c, g)
        layer = {"type": kind, "inputs": src[0]}
        if kind in ("Dropout", "SpatialDropout1D"):
            layer["rate"] = draw(st.sampled_from([0.0, 0.25, 0.5]))
        elif kind == "Rescaling":
            layer.update(scale=draw(st.sampled_from([0.5, -2.0, 1.5])), offset=draw(st.sampled_from([0.0, 0.25])))
        else:
            for key in ("center", "scale"):
                if draw(st.integers(0, 3)) == 0:
                    layer[key] = False
            if draw(st.booleans()):
                layer["epsilon"] = 0.01
        return add(layer, c, g)

    def pool(src, size=None, stride=None):
        _, c, g = src
        size = size or draw(st.integers(1, 3))
        if stride is None:
            stride = stride_for(g) if draw(st.booleans()) else None
        layer = {"type": draw(st.sampled_from(POOLS)), "inputs": src[0], "pool_size": size}
        if stride is not None:
            layer["strides"] = stride
        if same and draw(st.booleans()):
            layer["padding"] = "same"
        grid = g * (stride or size)
        if grid > MAX_GRID:
            layer["strides"], grid = 1, g
        return add(layer, c, grid)

    def merge(first, others, kinds=("Add", "Multiply", "Concatenate")):
        chosen = [first] + others
        grids = [t[2] for t in chosen]
        chosen = [t for t in chosen if max(grids) % t[2] == 0]
        same = [t for t in chosen if t[1] == first[1]]
        kind = draw(st.sampled_from(kinds))
        if kind != "Concatenate" and len(same) >= 2:
            chosen = same
        else:
            kind = "Concatenate"
        if len(chosen) < 2:
            chosen = [first, first]
        count = sum(t[1] for t in chosen) if kind == "Concatenate" else first[1]
        layer = {"type": kind, "inputs": [t[0] for t in chosen]}
        if kind == "Concatenate" and draw(st.booleans()):
            layer["axis"] = -1
        return add(layer, count, max(t[2] for t in chosen))

    for _ in range(draw(st.integers(1, max_layers))):
        kind = draw(st.sampled_from(["conv", "conv", "conv", "pool", "dense", "merge", "activation", "shared", "crop",
                                     "depthwise", "positionwise", "positionwise"] + ["zeros"] * same))
        src = pick()
        if kind == "zeros":
            add({"type": "ZeroPadding1D", "inputs": src[0],
                 "padding": draw(st.integers(0, 2) | st.lists(st.integers(0, 3), min_size=2, max_size=2))},
                src[1], src[2])
        elif kind == "conv":
            conv(src)
        elif kind == "depthwise":
            conv(src, kind=draw(st.sampled_from(["DepthwiseConv1D", "SeparableConv1D"])))
        elif kind == "positionwise":
            positionwise(src)
        elif kind == "pool":
            pool(src)
        elif kind == "dense":
            layer = {"type": "Dense", "inputs": src[0], "units": draw(st.integers(1, 4)), "activation": activation()}
            if draw(st.booleans()):
                layer["use_bias"] = False
            add(layer, layer["units"], src[2])
        elif kind == "activation":
            add({"type": "Activation", "inputs": src[0], "activation": activation()}, src[1], src[2])
        elif kind == "merge":
            others = [t for t in tensors if max(src[2], t[2]) % min(src[2], t[2]) == 0]
            merge(src, draw(st.lists(st.sampled_from(others), min_size=1, max_size=2)))
        elif kind == "shared":  # one ring, two reaches: the longer may come first or second
            first, second = draw(st.permutations([3, 2]))
            a = conv(src, kernel=first, stride=1)
            b = conv(src, kernel=second, stride=1) if draw(st.booleans()) else pool(src, size=second, stride=1)
            merge(a, [b])
        else:  # crop: the pooled branch's oldest position is cropped by the merge
            if src[2] * 2 > MAX_GRID:
                continue
            pooled = pool(src, size=2, stride=2)
            convolved = conv(src, kernel=3, stride=1)
            merge(pooled, [convolved], kinds=("Concatenate",))
    for tensor in extra:  # every conditioning input reaches the output
        merge(tensors[-1], [tensor], kinds=("Add", "Concatenate"))
    head = draw(st.sampled_from(["none", "none", "flatten", "flatten2", "flatten-then", "two-heads", "two-heads", "global"]))
    if head == "none":
        return _spec(nodes, layers, same)

    def flatten_head(src, units):
        flat = add({"type": "Flatten", "inputs": src[0]}, 0, src[2])
        for _ in range(draw(st.integers(0, 2))):  # value-by-value layers may stand between Flatten and Dense
            between = draw(st.sampled_from([{"type": "Dropout", "rate": 0.5}, {"type": "Rescaling", "scale": -2.0},
                                            {"type": "Activation", "activation": "tanh"}]))
            flat = add({**between, "inputs": flat[0]}, 0, src[2])
        return add({"type": "Dense", "inputs": flat[0], "units": units, "activation": activation()}, units, src[2])

    body = list(tensors)  # what a second head may flatten
    if head == "global":  # a global pool over the whole width, then a Dense (or not)
        src = tensors[-1]
        keepdims = draw(st.booleans())  # (batch, 1, C) in the per-step model, a sequence of one position
        pooled = add({"type": draw(st.sampled_from(["GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalAvgPool1D",
                                                     "GlobalMaxPool1D"])), "inputs": src[0], "keepdims": keepdims},
                     src[1], src[2])
        after = draw(st.sampled_from(["none", "dense", "conv"] if keepdims else ["none", "dense"]))
        if after == "dense":
            add({"type": "Dense", "inputs": pooled[0], "units": draw(st.integers(1, 3)), "activation": activation()},
                0, src[2])
        elif after == "conv":  # reads positions: only a pool that kept its one
            conv(pooled, kernel=1, stride=1)
        return _spec(nodes, layers, same)
    out = flatten_head(tensors[-1], draw(st.integers(1, 3)))
    if head == "flatten2":
        out = add({"type": "Dense", "inputs": out[0], "units": 2}, 2, out[2])
    elif head == "flatten-then":  # per-step layers after a Flatten head
        after = draw(st.sampled_from(["activation", "conv", "merge"]))
        if after == "activation":
            out = add({"type": "Activation", "inputs": out[0], "activation": activation()}, out[1], out[2])
        elif after == "conv":
            out = conv(out, kernel=1, stride=1)
        else:
            out = merge(out, [out])
    elif head == "two-heads":  # a merge of flattened tensors
        other = flatten_head(draw(st.sampled_from(body)), out[1])
        out = merge(out, [other])
    return _spec(nodes, layers, same)


def _spec(nodes: list, layers: list, same: bool) -> dict:
    if len(nodes) == 1 and "channels" in nodes[0]:
        spec = {"name": "generated", "input": {"channels": nodes[0]["channels"]}, "layers": layers}
    else:
        spec = {"name": "generated", "inputs": nodes, "layers": layers}
    return {"same_padding": "exact", **spec} if same else spec


def spec_dicts_of_every_family(max_layers: int = 7):
    """`spec_dicts` of one input, of several inputs (conditioned) and with exact 'same' padding, in equal
    measure."""
    return st.sampled_from(["plain", "conditioned", "same"]).flatmap(
        lambda family: spec_dicts(max_layers=max_layers, conditioned=family == "conditioned", same=family == "same"))
