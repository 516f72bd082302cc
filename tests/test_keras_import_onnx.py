"""`causalc import MODEL.onnx --practice P.keras` on ONNX graphs built here with onnx.helper, as PyTorch's
exporters write them (channels first, 2-D EEG convolutions, constant subgraphs, F.pad, flattens by Shape
and Reshape) and as tf2onnx does (channels last): the practice model written equals onnxruntime's run of
the model on the window ending at every step t >= W-1. The PyTorch exporters themselves are tested in
tests/test_torch.py, in an environment with torch."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import relative_error

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
keras = pytest.importorskip("keras")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(0)


def weight(name, *shape, scale=0.5):
    return numpy_helper.from_array(RNG.normal(0, scale, shape).astype(np.float32), name)


def const(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype), name)


def model(nodes, inits, shape, out_shape, opset=17, name="x"):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shape])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", *out_shape])], inits)
    made = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    made.ir_version = 8
    onnx.checker.check_model(made)
    return made


def run_import(tmp_path, made, *extra):
    from convert.cli import main

    path = tmp_path / "m.onnx"
    onnx.save(made, path)
    spec, practice = tmp_path / "s.yaml", tmp_path / "p.keras"
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(spec), "--practice", str(practice), *extra])
    return result, spec, practice, path


def agrees(path, practice_path, shape, time_axis, length=60):
    """The practice model over a sequence against onnxruntime on the window ending at every t >= W-1."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    practice = keras.saving.load_model(str(practice_path))
    window = shape[time_axis - 1]
    others = [d for a, d in enumerate(shape, 1) if a != time_axis]
    x = RNG.normal(size=(2, length, int(np.prod(others)))).astype(np.float32)
    got = np.asarray(practice(x))[:, window - 1:]
    want = []
    for t in range(window - 1, length):
        win = x[:, t - window + 1:t + 1].reshape(2, window, *others)  # (batch, W, rest...) to the model's layout
        order = [0, time_axis] + [a for a in range(1, len(shape) + 1) if a != time_axis]
        win = np.transpose(win, np.argsort(order))
        want.append(session.run(None, {session.get_inputs()[0].name: win})[0].reshape(2, -1))
    return relative_error(got.reshape(2, len(want), -1), np.stack(want, 1))


def test_a_channels_first_1d_network(tmp_path):
    """Conv (padding, dilation, groups) -> LeakyRelu (PyTorch's slope) -> MaxPool (ceil_mode) -> BatchNorm ->
    PRelu -> F.pad -> Flatten -> Gemm -> Softmax, with a window the strides do not consume exactly."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], "c1", pads=[1, 1], dilations=[2], kernel_shape=[3],
                         group=2),
        helper.make_node("LeakyRelu", ["c1"], ["a1"], alpha=0.01),
        helper.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[2], strides=[2], ceil_mode=1),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], "c2", kernel_shape=[3], strides=[2]),
        helper.make_node("BatchNormalization", ["c2", "g", "be", "mu", "var"], ["n"], epsilon=1e-5),
        helper.make_node("PRelu", ["n", "slope"], ["pr"]),
        helper.make_node("Pad", ["pr", "pads"], ["padded"], mode="constant"),
        helper.make_node("Flatten", ["padded"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wd", "bd"], ["d"], transB=1),
        helper.make_node("Softmax", ["d"], ["y"], axis=1),
    ]
    inits = [weight("w1", 4, 1, 3), weight("b1", 4), weight("w2", 5, 4, 3), weight("g", 5), weight("be", 5),
             weight("mu", 5), numpy_helper.from_array(RNG.uniform(0.5, 2, 5).astype(np.float32), "var"),
             numpy_helper.from_array(RNG.uniform(-0.5, 0.5, (5, 1)).astype(np.float32), "slope"),
             const("pads", [0, 0, 1, 0, 0, 0]), weight("wd", 3, 5 * 7), weight("bd", 3)]
    # window 27: conv 27 (+2 pads) -> 25, pool ceil -> 13, conv stride 2 -> 6 (13 - 3 = 10, even), pad -> 7
    result, spec, practice, path = run_import(tmp_path, model(nodes, inits, [2, 27], [3]))
    assert result.exit_code == 0, result.output
    text = spec.read_text()
    assert "(batch, 2, W) is read as (batch, W, 2)" in text and "negative_slope: 0.01" in text
    assert agrees(path, practice, (2, 27), 2) < 1e-5


def _eeg_nodes(ws, pads_by_ops=False):
    """ShallowFBCSPNet as braindecode writes it: (batch, C, W) -> (batch, 1, W, C), a temporal and a spatial
    convolution (their weights combined inside the graph), square, mean pool, safe log, a final
    convolution over the rest, log-softmax, squeezes."""
    nodes = [
        helper.make_node("Unsqueeze", ["x", "ax3"], ["u"]),
        helper.make_node("Transpose", ["u"], ["tr"], perm=[0, 3, 2, 1]),
        # combined weight: temporal (8, 1, 9, 1) * spatial (8, 8, 1, C) summed over the temporal filters
        helper.make_node("Transpose", ["wt"], ["wt_t"], perm=[1, 0, 2, 3]),
        helper.make_node("Mul", ["wt_t", "ws"], ["prod"]),
        helper.make_node("ReduceSum", ["prod", "ax1"], ["wsum"], keepdims=1),
        helper.make_node("Transpose", ["wsum"], ["wcomb"], perm=[1, 0, 2, 3]),
        helper.make_node("Conv", ["tr", "wcomb"], ["conv"], "conv_time_spat", kernel_shape=[9, ws[3]]),
        helper.make_node("Mul", ["conv", "conv"], ["sq"]),
        helper.make_node("AveragePool", ["sq"], ["pool"], kernel_shape=[10, 1], strides=[3, 1]),
        helper.make_node("Clip", ["pool", "eps"], ["clamped"]),
        helper.make_node("Log", ["clamped"], ["logged"]),
        helper.make_node("Conv", ["logged", "wf", "bf"], ["fc"], "final_layer", kernel_shape=[ws[2], 1]),
        helper.make_node("LogSoftmax", ["fc"], ["ls"], axis=1),
        helper.make_node("Squeeze", ["ls", "ax23"], ["y"]),
    ]
    return nodes


@pytest.mark.parametrize("channels, window", [(4, 50), (3, 41)])
def test_an_eeg_network_of_2d_convolutions(tmp_path, channels, window):
    pooled = (window - 9 - 10) // 3 + 1
    inits = [const("ax3", [3]), const("ax1", [1]), const("ax23", [2, 3]),
             weight("wt", 8, 1, 9, 1), weight("ws", 1, 8, 1, channels),  # broadcast: (1, 8, 9, 1) * (1, 8, 1, C)
             numpy_helper.from_array(np.float32(1e-6), "eps"), weight("wf", 3, 1, pooled, 1), weight("bf", 3)]
    nodes = _eeg_nodes([None, 1, pooled, channels])
    nodes[3] = helper.make_node("Mul", ["wt_t", "ws"], ["prod"])
    result, spec, practice, path = run_import(tmp_path, model(nodes, inits, [channels, window], [3]))
    assert result.exit_code == 0, result.output
    text = spec.read_text()
    assert "activation: square" in text and "activation: log}" in text and "log_softmax" in text
    if (window - 9 - 10) % 3:  # the pool's newest leftovers: a crop, a delay in practice
        assert "Cropping1D" in text
    assert agrees(path, practice, (channels, window), 2) < 1e-5


def test_torchscript_style_constant_subgraphs(tmp_path):
    """F.pad's pads and a flatten's shape computed by ops (ConstantOfShape, Concat, Shape, Gather), and a
    Linear as MatMul + Add: folded before reading."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[2]),
        helper.make_node("Relu", ["c1"], ["r"]),
        helper.make_node("ConstantOfShape", ["four"], ["zeros"], value=numpy_helper.from_array(np.array([0], np.int64))),
        helper.make_node("Concat", ["two_one", "zeros"], ["pads6"], axis=0),  # [2, 1, 0, 0, 0, 0]: reordered below
        helper.make_node("Gather", ["pads6", "order"], ["pads"], axis=0),
        helper.make_node("Pad", ["r", "pads"], ["padded"]),
        helper.make_node("Shape", ["padded"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "ax0"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["padded", "target"], ["flat"]),
        helper.make_node("MatMul", ["flat", "wd"], ["mm"]),
        helper.make_node("Add", ["mm", "bd"], ["y"]),
    ]
    inits = [weight("w1", 3, 2, 2), weight("b1", 3), const("four", [4]), const("two_one", [0, 0]),
             const("order", [0, 1, 2, 3, 4, 5]), const("zero", 0), const("ax0", [0]), const("minus_one", [-1]),
             weight("wd", 3 * 11, 2), weight("bd", 2)]
    inits[3] = const("two_one", [0, 0])
    nodes[4] = helper.make_node("Gather", ["pads6", "order"], ["pads0"], axis=0)
    nodes.insert(5, helper.make_node("Add", ["pads0", "left"], ["pads"]))
    inits.append(const("left", [0, 0, 2, 0, 0, 0]))
    result, spec, practice, path = run_import(tmp_path, model(nodes, inits, [2, 10], [2]))
    assert result.exit_code == 0, result.output
    assert "{type: ZeroPadding1D" in spec.read_text() and "padding: [2, 0]" in spec.read_text()
    assert agrees(path, practice, (2, 10), 2) < 1e-5


def test_a_channels_last_model_and_a_cropped_residual_and_the_newest_step(tmp_path):
    """tf2onnx's layout (batch, W, C) transposed to channels first, a residual whose shortcut is cut to the
    convolution's width (x[:, :, 2:]), and x[:, :, -1] into a Linear."""
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Conv", ["t", "w1", "b1"], ["c1"], kernel_shape=[3]),
        helper.make_node("Tanh", ["c1"], ["h"]),
        helper.make_node("Slice", ["t", "start", "end", "axis"], ["cut"]),
        helper.make_node("Add", ["h", "cut"], ["res"]),
        helper.make_node("Gather", ["res", "last"], ["newest"], axis=2),
        helper.make_node("Gemm", ["newest", "wd", "bd"], ["y"], transB=1),
    ]
    inits = [weight("w1", 3, 3, 3), weight("b1", 3), const("start", [2]), const("end", [2**62]), const("axis", [2]),
             const("last", -1), weight("wd", 2, 3), weight("bd", 2)]
    result, spec, practice, path = run_import(tmp_path, model(nodes, inits, [12, 3], [2]))
    assert result.exit_code == 0, result.output
    assert "(batch, W, 3) is read as (batch, W, 3)" in spec.read_text()
    assert agrees(path, practice, (12, 3), 1) < 1e-5


def test_every_node_that_cannot_be_read_is_listed_and_nothing_is_written(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], kernel_shape=[2]),
        helper.make_node("Erf", ["c1"], ["e"], "erf_node"),
        helper.make_node("Sin", ["e"], ["h"], "sin_node"),
        helper.make_node("Flatten", ["h"], ["f"]),
        helper.make_node("Gemm", ["f", "wd"], ["y"], transB=1),
    ]
    inits = [weight("w1", 2, 1, 2), weight("wd", 1, 2 * 7)]
    result, spec, practice, _ = run_import(tmp_path, model(nodes, inits, [1, 8], [1]))
    assert result.exit_code == 1 and "2 nodes cannot be read" in result.output
    assert "`erf_node` (Erf)" in result.output and "`sin_node` (Sin)" in result.output
    assert not spec.exists() and not practice.exists()


@pytest.mark.parametrize("build, message", [
    (lambda: model([helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")], [const("p", [0, 0, 1, 0, 0, 0])],
                   [1, 8], [1, 9]), "'reflect' padding"),
    (lambda: model([helper.make_node("Conv", ["x", "x"], ["y"], kernel_shape=[1])], [], [1, 8], [1, 8]),
     "constant weights"),
    (lambda: model([helper.make_node("Relu", ["x"], ["y"])], [], [1, 8], [1, 8]), "keeps 8 positions"),
])
def test_models_causalc_cannot_read_are_clear_errors(tmp_path, build, message):
    result, spec, _, _ = run_import(tmp_path, build())
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output
    assert not spec.exists()


@pytest.mark.parametrize("content", [b"", b"not a protobuf \x00\xff", b"\x08\x07\x12\x04abcd" * 3])
def test_files_that_are_not_onnx_models(tmp_path, content):
    from convert.cli import main

    (tmp_path / "m.onnx").write_bytes(content)
    result = CliRunner().invoke(main, ["import", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 1 and "Traceback" not in result.output and "internal error" not in result.output
    assert not (tmp_path / "s.yaml").exists()


def test_external_weights_outside_the_models_folder_are_refused(tmp_path):
    from onnx.external_data_helper import convert_model_to_external_data

    made = model([helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[8]), helper.make_node("Flatten", ["c"], ["y"])],
                 [weight("w", 2, 1, 8)], [1, 8], [2])
    convert_model_to_external_data(made, all_tensors_to_one_file=True, location="../elsewhere.bin", size_threshold=0)
    for tensor in made.graph.initializer:
        tensor.ClearField("raw_data")
    from convert.cli import main

    path = tmp_path / "m.onnx"
    path.write_bytes(made.SerializeToString())
    (tmp_path.parent / "elsewhere.bin").write_bytes(b"\x00" * 64)
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(tmp_path / "s.yaml")])
    assert result.exit_code == 1 and "not a file beside the model" in result.output


def test_a_graph_that_asks_for_a_huge_constant_is_refused_before_allocating(tmp_path):
    """ConstantOfShape of 10**12 zeros (a few bytes in the file) is refused, not folded."""
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["zeros"]),
             helper.make_node("ReduceSum", ["zeros"], ["s"], keepdims=0),
             helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[8]),
             helper.make_node("Add", ["c", "s"], ["a"]),
             helper.make_node("Flatten", ["a"], ["y"])]
    made = model(nodes, [const("shape", [10**6, 10**6]), weight("w", 2, 1, 8)], [1, 8], [2])
    result, spec, _, _ = run_import(tmp_path, made)
    assert result.exit_code == 1 and "causalc folds constants of up to" in result.output, result.output
    assert not spec.exists()
