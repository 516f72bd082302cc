"""The ONNX graph edits (convert.runtime.onnx_edits) on hand-built graphs, run by ONNX Runtime before and
after: the same outputs to float32 rounding, fewer operators where the pattern is, and graphs whose pattern
is only nearly there left as they are. (Every exported model is also checked against Keras: test_keras_onnx,
test_keras_deploy.)"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from convert.runtime.onnx_edits import fuse_summed_gemms, simplified, split_activated_gemms  # noqa: E402

RNG = np.random.default_rng(0)


def weights(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def model(nodes, inputs: dict, outputs: dict, constants: dict):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in inputs.items()],
                              [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in outputs.items()],
                              [numpy_helper.from_array(v, k) for k, v in constants.items()])
    made = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(made)
    return made


def run(made, feeds: dict) -> list:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the graph as written
    session = ort.InferenceSession(made.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def ops(made) -> Counter:
    return Counter(node.op_type for node in made.graph.node)


def edited(made, edit):
    copy = onnx.ModelProto()
    copy.CopyFrom(made)
    count = edit(copy)
    onnx.checker.check_model(copy)
    return copy, count


def same(before, after, feeds):
    for want, got in zip(run(before, feeds), run(after, feeds)):
        assert want.shape == got.shape
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * float(np.abs(want).max()))


def skips(rows: int = 3, transB: int = 0):
    """WaveNet's pattern: blocks whose one Gemm gives a skip and a residual (cut by a Split), a last block's
    Gemm that is only a skip, and a Sum of the skips and of one more tensor."""
    nodes, constants = [], {}
    previous = "x"
    skips_ = []
    for k in range(3):
        w, b = weights(8, 12), weights(12)
        constants[f"w{k}"] = w.T.copy() if transB else w
        constants[f"b{k}"] = b
        nodes.append(helper.make_node("Tanh", [previous], [f"h{k}"]))
        nodes.append(helper.make_node("Gemm", [f"h{k}", f"w{k}", f"b{k}"], [f"g{k}"], transB=transB))
        nodes.append(helper.make_node("Split", [f"g{k}", "sizes"], [f"skip{k}", f"res{k}"], axis=-1))
        nodes.append(helper.make_node("Add", [previous, f"res{k}"], [f"x{k + 1}"]))
        previous = f"x{k + 1}"
        skips_.append(f"skip{k}")
    constants["sizes"] = np.array([4, 8], np.int64)
    constants["w_last"], constants["b_last"] = weights(8, 4), weights(4)
    nodes.append(helper.make_node("Gemm", [previous, "w_last", "b_last"], ["skip_last"]))
    nodes.append(helper.make_node("Relu", ["x"], ["other"]))
    constants["w_other"], constants["b_other"] = weights(8, 4), weights(4)
    nodes.append(helper.make_node("Gemm", ["other", "w_other", "b_other"], ["other4"]))
    nodes.append(helper.make_node("Sigmoid", ["other4"], ["other_act"]))  # not linear: stays a term of the sum
    nodes.append(helper.make_node("Sum", skips_ + ["skip_last", "other_act"], ["y"]))
    return model(nodes, {"x": [rows, 8]}, {"y": [rows, 4], previous: [rows, 8]}, constants), {"x": weights(rows, 8)}


@pytest.mark.parametrize("transB", [0, 1])
def test_summed_linear_pieces_are_one_gemm_of_their_inputs(transB):
    before, feeds = skips(transB=transB)
    after, count = edited(before, fuse_summed_gemms)
    assert count == 1
    assert ops(after)["Split"] == 0  # each block's Gemm now computes its residual alone
    assert ops(before)["Gemm"] == 5 and ops(after)["Gemm"] == 5  # three residuals, the skips in one, the other
    assert ops(after)["Concat"] == 1
    same(before, after, feeds)
    names = {t.name for t in after.graph.initializer}
    assert not {"w0", "w1", "w2", "w_last"} & names  # the old weights are dropped with their Gemms


def test_a_fused_gemm_keeps_every_piece_other_nodes_read():
    before, feeds = skips()
    graph = before.graph
    for node in graph.node:  # the first block's Gemm gives a third piece, which goes out of the graph
        if node.output[0] == "g0":
            node.input[1] = "w0_wide"
            node.input[2] = "b0_wide"
        if node.op_type == "Split" and node.input[0] == "g0":
            node.input[1] = "sizes_wide"
            node.output.append("side")
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    graph.initializer.extend([numpy_helper.from_array(np.concatenate([constants["w0"], weights(8, 3)], 1), "w0_wide"),
                              numpy_helper.from_array(np.concatenate([constants["b0"], weights(3)]), "b0_wide"),
                              numpy_helper.from_array(np.array([4, 8, 3], np.int64), "sizes_wide")])
    graph.output.append(helper.make_tensor_value_info("side", TensorProto.FLOAT, [3, 3]))
    onnx.checker.check_model(before)
    after, count = edited(before, fuse_summed_gemms)
    assert count == 1
    assert ops(after)["Split"] == 1  # the residual and the third piece, from one Gemm of the two
    same(before, after, feeds)


def test_pieces_read_elsewhere_or_not_linear_are_left_alone():
    before, feeds = skips()
    graph = before.graph
    # the first skip also goes out of the graph: it must stay computed, so it is not fused
    graph.output.append(helper.make_tensor_value_info("skip0", TensorProto.FLOAT, [3, 4]))
    after, count = edited(before, fuse_summed_gemms)
    assert count == 1
    assert ops(after)["Split"] == 1
    same(before, after, feeds)
    # a Gemm with alpha != 1 is not a plain linear piece; with only one piece left there is nothing to fuse
    for node in before.graph.node:
        if node.op_type == "Gemm" and node.input[1] in ("w1", "w2", "w_last"):
            node.attribute.append(helper.make_attribute("alpha", 0.5))
    after, count = edited(before, fuse_summed_gemms)
    assert count == 0 and ops(after) == ops(before)
    same(before, after, feeds)


def test_a_sum_of_unknown_rows_is_left_alone():
    before, feeds = skips()
    for value in list(before.graph.input):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    after, count = edited(before, fuse_summed_gemms)
    assert count == 0 and ops(after) == ops(before)
    same(before, after, feeds)


def gate(activations=("Tanh", "Sigmoid"), sizes=(5, 5)):
    constants = {"w": weights(6, sum(sizes)), "b": weights(sum(sizes)), "sizes": np.array(sizes, np.int64)}
    halves = [f"half{k}" for k in range(len(sizes))]
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"]), helper.make_node("Split", ["g", "sizes"], halves, axis=1)]
    nodes += [helper.make_node(op, [half], [f"a{k}"]) for k, (op, half) in enumerate(zip(activations, halves))]
    nodes.append(helper.make_node("Mul", ["a0", "a1"], ["y"]) if len(sizes) == 2 else helper.make_node("Sum", [f"a{k}" for k in range(len(sizes))], ["y"]))
    return model(nodes, {"x": [2, 6]}, {"y": [2, sizes[0]]}, constants), {"x": weights(2, 6)}


def test_a_gate_is_one_gemm_per_activation_which_onnx_runtime_fuses(tmp_path):
    before, feeds = gate()
    after, count = edited(before, split_activated_gemms)
    assert count == 1
    assert ops(after)["Split"] == 0 and ops(after)["Gemm"] == 2
    assert {t.name for t in after.graph.initializer}.isdisjoint({"w", "b", "sizes"})
    same(before, after, feeds)
    options = ort.SessionOptions()  # the point of the edit: ONNX Runtime's own graph is two FusedGemms and a Mul
    options.log_severity_level = 3
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    ort.InferenceSession(after.SerializeToString(), options, providers=["CPUExecutionProvider"])
    assert ops(onnx.load(options.optimized_model_filepath)) == Counter({"FusedGemm": 2, "Mul": 1})


@pytest.mark.parametrize("activations", [("Tanh", "Softmax"), ("Tanh", "Identity")])
def test_a_split_with_a_piece_no_activation_fuses_with_is_left_alone(activations):
    before, feeds = gate(activations)
    after, count = edited(before, split_activated_gemms)
    assert count == 0 and ops(after) == ops(before)
    same(before, after, feeds)


def test_both_edits_together_keep_the_outputs():
    before, feeds = skips(rows=1)
    after, _ = edited(before, lambda m: simplified(m) or 0)
    assert ops(after)["Split"] == 0
    same(before, after, feeds)


def test_pieces_of_widths_that_broadcast_are_left_alone():
    constants = {"w1": weights(8, 1), "b1": weights(1), "w4": weights(8, 4), "b4": weights(4)}
    nodes = [helper.make_node("Tanh", ["x"], ["h"]), helper.make_node("Gemm", ["x", "w1", "b1"], ["one"]),
             helper.make_node("Gemm", ["h", "w4", "b4"], ["four"]), helper.make_node("Add", ["one", "four"], ["y"])]
    before = model(nodes, {"x": [2, 8]}, {"y": [2, 4]}, constants)
    after, count = edited(before, fuse_summed_gemms)
    assert count == 0 and ops(after) == ops(before)
    # of equal widths they are fused, into one Gemm of the two inputs side by side
    constants["w1"], constants["b1"] = weights(8, 4), weights(4)
    before = model(nodes, {"x": [2, 8]}, {"y": [2, 4]}, constants)
    after, count = edited(before, fuse_summed_gemms)
    assert count == 1 and ops(after) == Counter({"Tanh": 1, "Concat": 1, "Gemm": 1})
    same(before, after, {"x": weights(2, 8)})
