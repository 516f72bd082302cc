"""Edits of a converted ONNX graph that ONNX Runtime runs in fewer operators, the same arithmetic but for
float32 rounding (every export is checked against Keras afterwards all the same).

- `fuse_summed_gemms`: a sum of several linear layers' outputs, each a Gemm with constant weights or a
  piece of one cut by a Split, is one Gemm of their inputs side by side: concat(a_1..a_n) @ stack(W_1..W_n)
  + sum(b_i). WaveNet's skip connections are this: every block's 1x1 skip convolution, computed with its
  residual convolution in one Gemm and cut apart by a Split, meets the others in one Sum. After the edit
  each block's Gemm computes only its residual (no Split) and the skips are one Gemm at the head: for
  specs/wavenet.yaml's step 120 -> 111 operators. At batch 1 a step is dozens of tiny operators that each
  cost ONNX Runtime about 0.3-0.5 us whatever their size, so the count is the step's time.
- `split_activated_gemms`: a Gemm whose output a Split cuts into pieces that each go to one activation (a
  WaveNet gate: tanh of one half, sigmoid of the other) is one Gemm per piece, each then fused with its
  activation by ONNX Runtime (its FusedGemm): Gemm, Split, Tanh, Sigmoid -> two operators.

`simplified` applies both.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def simplified(model) -> None:
    """`model` (an onnx.ModelProto) edited in place by both edits (a step to quantise is quantised as
    converted, without them: `convert.runtime.onnx_export.export_step_onnx`)."""
    split_activated_gemms(model)
    fuse_summed_gemms(model)


# the activations ONNX Runtime fuses into the Gemm before them (its GemmActivationFusion)
FUSED_ACTIVATIONS = frozenset({"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "Elu"})


def split_activated_gemms(model) -> int:
    """`model` (edited in place) with each Gemm of constant weights whose only reader is a Split along its
    last axis, each of whose pieces only one of FUSED_ACTIVATIONS reads, replaced by one Gemm per piece;
    returns how many Gemms were split."""
    graph = model.graph
    nodes = [_copy(node) for node in graph.node]
    constants = {tensor.name: tensor for tensor in graph.initializer}
    before = _used(nodes, graph)
    producer = {output: n for n in nodes for output in n.output}
    readers: dict = {}
    for n in nodes:
        for name in n.input:
            readers.setdefault(name, []).append(n)
    outputs = {output.name for output in graph.output}
    done, out = 0, []
    for node in nodes:
        gemm = producer.get(node.input[0]) if node.op_type == "Split" else None
        if gemm is not None and gemm.op_type == "Gemm" and len(readers.get(gemm.output[0], ())) == 1 and \
                gemm.output[0] not in outputs and all(
                    output not in outputs and len(readers.get(output, ())) == 1 and
                    readers[output][0].op_type in FUSED_ACTIVATIONS for output in node.output):
            linear = _linear(gemm, constants)
            bounds = linear and _split_bounds(node, linear[0].shape[1], constants)
            if bounds:
                from onnx import helper

                weights, bias = linear
                out = [n for n in out if n is not gemm]
                for output, columns in zip(node.output, bounds):
                    out.append(helper.make_node(
                        "Gemm", [gemm.input[0], _constant(graph, output + "/weights", weights[:, columns]),
                                 _constant(graph, output + "/bias", bias[columns])], [output], name=output))
                done += 1
                continue
        out.append(node)
    _replace(graph, out, before)
    return done


def _replace(graph, nodes: list, before: set) -> None:
    """The graph's nodes replaced by `nodes`, and the constants only the old nodes read dropped."""
    del graph.node[:]
    graph.node.extend(nodes)
    orphans = before - _used(nodes, graph)
    kept = [tensor for tensor in graph.initializer if tensor.name not in orphans]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def fuse_summed_gemms(model) -> int:
    """`model` (an onnx.ModelProto, edited in place) with each Sum or Add of two or more linear pieces (see the
    module) fused into one Gemm, and the constants only the old Gemms used dropped; returns how many sums
    were fused."""
    graph = model.graph
    shapes = _shapes(model)
    nodes = [_copy(node) for node in graph.node]
    constants = {tensor.name: tensor for tensor in graph.initializer}
    before = _used(nodes, graph)
    fused = 0
    while True:
        producer = {output: n for n in nodes for output in n.output}
        readers = Counter(name for n in nodes for name in n.input)
        readers.update(output.name for output in graph.output)
        for index, node in enumerate(nodes):
            if node.op_type not in ("Sum", "Add") or len(node.input) < 2:
                continue
            pieces = [p for p in (_piece(name, producer, constants, readers) for name in node.input) if p is not None]
            rows = {shapes.get(p["input"], (None,))[0] for p in pieces}
            widths = {p["columns"].stop - p["columns"].start for p in pieces}
            if len(pieces) >= 2 and len(rows) == 1 and None not in rows and len(widths) == 1 and \
                    len({id(p["gemm"]) for p in pieces}) == len(pieces):
                break  # else unknown or unequal rows, widths that broadcast, or two pieces of one Gemm: left alone
        else:
            break
        nodes[index:index + 1] = _fused(graph, node, pieces)
        for piece in pieces:
            _keep_the_rest(graph, nodes, piece, readers)
        constants = {tensor.name: tensor for tensor in graph.initializer}
        fused += 1
    _replace(graph, nodes, before)
    return fused


def _used(nodes: list, graph) -> set:
    """Every tensor name the nodes (and the graphs in their attributes) read, and the graph's outputs."""
    names = {output.name for output in graph.output}
    stack = list(nodes)
    while stack:
        node = stack.pop()
        names.update(node.input)
        for attribute in node.attribute:
            for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                stack.extend(sub.node)
                names.update(output.name for output in sub.output)
    return names


def _copy(node):
    from onnx import NodeProto

    made = NodeProto()
    made.CopyFrom(node)
    return made


def _shapes(model) -> dict:
    """Each tensor's static shape where ONNX's shape inference knows it (a dimension it does not: None)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001  (a model it cannot infer: no shape is known, and nothing is fused)
        return {}
    known = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = info.type.tensor_type.shape.dim
        known[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    return known


def _attributes(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _array(constants: dict, name: str) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(constants[name])


def _linear(gemm, constants: dict):
    """(weights (in, units), bias (units,)) of a Gemm computing a @ W + b with constant float32 W and b, or None."""
    if gemm.op_type != "Gemm" or gemm.input[1] not in constants or \
            (len(gemm.input) > 2 and gemm.input[2] and gemm.input[2] not in constants):
        return None
    options = _attributes(gemm)
    if options.get("transA", 0) or options.get("alpha", 1.0) != 1.0 or options.get("beta", 1.0) != 1.0:
        return None
    weights = _array(constants, gemm.input[1])
    if options.get("transB", 0):
        weights = weights.T
    if weights.ndim != 2 or weights.dtype != np.float32:
        return None
    units = weights.shape[1]
    bias = np.zeros(units, np.float32)
    if len(gemm.input) > 2 and gemm.input[2]:
        given = _array(constants, gemm.input[2])
        if given.dtype != np.float32 or given.size not in (1, units) or given.ndim > 2 or \
                (given.ndim == 2 and given.shape[0] != 1):
            return None  # a bias with rows of its own is not one row's
        bias = np.broadcast_to(given.reshape(-1), (units,)).copy()
    return weights, bias


def _piece(name: str, producer: dict, constants: dict, readers: Counter):
    """The linear piece that tensor `name` is, read by one node only, or None: {"name", "gemm", "split" (or
    None), "bounds" (the Split's slice of the Gemm's units for each of its outputs), "input", "weights" (in,
    units), "bias" (units,), "columns" (the piece's slice)}."""
    node = producer.get(name)
    if node is None or readers[name] != 1:
        return None
    split = None
    if node.op_type == "Split":
        split, node = node, producer.get(node.input[0])
        if node is None or readers[split.input[0]] != 1:
            return None
    linear = _linear(node, constants)
    if linear is None:
        return None
    weights, bias = linear
    bounds = [slice(0, weights.shape[1])]
    if split is not None:
        bounds = _split_bounds(split, weights.shape[1], constants)
        if bounds is None:
            return None
    columns = bounds[list(split.output).index(name)] if split is not None else bounds[0]
    return {"name": name, "gemm": node, "split": split, "bounds": bounds, "input": node.input[0],
            "weights": weights, "bias": bias, "columns": columns}


def _split_bounds(split, units: int, constants: dict):
    """Each output's slice of a Split along the last axis of a Gemm's (rows, units) output, or None."""
    options = _attributes(split)
    if options.get("axis", 0) not in (1, -1):
        return None
    if len(split.input) > 1 and split.input[1]:
        if split.input[1] not in constants:
            return None
        sizes = [int(size) for size in _array(constants, split.input[1])]
    elif "split" in options:
        sizes = list(options["split"])
    elif units % len(split.output) == 0:
        sizes = [units // len(split.output)] * len(split.output)
    else:
        return None
    if sum(sizes) != units or len(sizes) != len(split.output):
        return None
    ends = np.cumsum(sizes)
    return [slice(int(end - size), int(end)) for end, size in zip(ends, sizes)]


def _constant(graph, name: str, value: np.ndarray, dtype=np.float32) -> str:
    """A new constant named `name` (with a number after it when a constant has that name) -> its name."""
    from onnx import numpy_helper

    taken = {tensor.name for tensor in graph.initializer}
    unique, n = name, 1
    while unique in taken:
        unique, n = f"{name}_{n}", n + 1
    graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype), unique))
    return unique


def _fused(graph, node, pieces: list) -> list:
    """The nodes that replace the sum `node`: Concat of the pieces' inputs, one Gemm, and a Sum or Add of
    what else the sum added."""
    from onnx import helper

    base = node.output[0]
    weights = np.concatenate([p["weights"][:, p["columns"]] for p in pieces], axis=0)
    bias = np.sum([p["bias"][p["columns"]] for p in pieces], axis=0, dtype=np.float32)
    taken = {p["name"] for p in pieces}
    rest = [name for name in node.input if name not in taken]
    joined, out = base + "/fused_inputs", base + "/fused" if rest else base
    made = [helper.make_node("Concat", [p["input"] for p in pieces], [joined], axis=1, name=joined),
            helper.make_node("Gemm", [joined, _constant(graph, base + "/fused_weights", weights),
                                      _constant(graph, base + "/fused_bias", bias)], [out], name=out)]
    if rest:
        made.append(helper.make_node("Sum" if len(rest) > 1 else "Add", [*rest, out], [base], name=base))
    return made


def _keep_the_rest(graph, nodes: list, piece: dict, readers: Counter) -> None:
    """The piece's Gemm (and Split) replaced by a Gemm computing only the columns other nodes still read (and
    a Split of those, when there are several)."""
    from onnx import helper

    gemm, split = piece["gemm"], piece["split"]
    at = _position(nodes, gemm)
    if split is None:
        del nodes[at]
        return
    units = piece["weights"].shape[1]
    kept = [(output, columns) for output, columns in zip(split.output, piece["bounds"])
            if output != piece["name"] and readers[output] > 0]
    del nodes[_position(nodes, split)]
    if not kept:
        del nodes[at]
        return
    columns = np.concatenate([np.arange(units)[c] for _, c in kept])
    base = gemm.output[0]
    inputs = [gemm.input[0], _constant(graph, base + "/kept_weights", piece["weights"][:, columns]),
              _constant(graph, base + "/kept_bias", piece["bias"][columns])]
    if len(kept) == 1:
        nodes[at] = helper.make_node("Gemm", inputs, [kept[0][0]], name=base)
        return
    sizes = _constant(graph, base + "/kept_sizes", [c.stop - c.start for _, c in kept], np.int64)
    nodes[at] = helper.make_node("Gemm", inputs, [base], name=base)
    nodes.insert(at + 1, helper.make_node("Split", [base, sizes], [output for output, _ in kept], axis=-1,
                                          name=base + "/kept_split"))


def _position(nodes: list, node) -> int:
    return next(k for k, n in enumerate(nodes) if n is node)
