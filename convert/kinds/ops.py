"""The closed set of practice ops. Every practice layer performs one; each op states the invariants the
lowering must hold and how the op runs one time step at a time (the streaming rule).

Kinds reuse ops: Conv1D and a Flatten + Dense head are both `conv`; every position-wise layer (Activation,
and any position-wise kind registered later) is `pointwise`, streamed by calling the practice model's own
layer on the current step. Importing this module imports no TensorFlow; the streaming rules do, when run.
"""

from __future__ import annotations

import functools
import math

from convert.core.errors import InternalError
from convert.ir.graph import Reference, resolve

PER_STEP_ONLY = ("Dense", "Flatten", "MaxPooling1D", "AveragePooling1D")  # never in a practice graph


class UnknownOp(InternalError, LookupError):
    """A practice layer names an op this module does not define: a bug in a kind, not in the spec."""


class Op:
    name = ""
    windowed = False  # reads taps of its input (`kernel_size` or `pool_size`, `dilation_rate` apart)
    calls_layer = False  # its streaming rule calls the practice model's Keras layer (whose weights an export keeps)

    def delays(self, layer) -> tuple[int, ...]:
        """The past steps of its input a windowed op reads, in the order its streaming rule takes them; the
        streaming ring of its input holds the furthest and the current step."""
        return (0,)

    def check(self, layer, padding: str) -> None:
        assert layer.arg("strides", 1) == 1, f"{layer.name}: practice layers have stride 1"
        assert layer.cls not in PER_STEP_ONLY, f"{layer.name}: {layer.cls} has no place in a practice graph"

    def stream(self, layer, ins: list, taps, step) -> dict:
        """The values the layer computes at one time step, by name. `ins` are its inputs' current values
        (batch, channels); `taps` (windowed ops) the input at `delays` as (len(delays), batch, channels);
        `step` the streaming model (weights, Keras layers)."""
        raise InternalError(f"{layer.name}: the {self.name} op has no streaming rule")


class Windowed(Op):
    windowed = True
    size_arg = ""

    def delays(self, layer):
        """Steps t - (k-1)d, ..., t: oldest first, as Keras's kernel."""
        kernel, dilation = layer.arg(self.size_arg), layer.arg("dilation_rate")
        return tuple((kernel - 1 - i) * dilation for i in range(kernel))

    def check(self, layer, padding):
        super().check(layer, padding)
        assert layer.arg("padding") == padding, f"{layer.name}: practice padding is {padding}"
        assert layer.arg("dilation_rate") == layer.plan.dilation >= 1, f"{layer.name}: dilated by its grid"


class Conv(Windowed):
    """A dilated causal Conv1D (also every Dense, pointwise or folded from Flatten)."""

    name = "conv"
    size_arg = "kernel_size"
    takes_rows = True  # its streaming rule also takes the taps as a list of (batch, C) rows (the exported step's)

    def check(self, layer, padding):
        super().check(layer, padding)
        assert layer.cls == "Conv1D", f"{layer.name}: the conv op is a Conv1D"

    def dense_kernel(self, layer, kernel):
        """The kernel as a dense (k, c, f) array: a grouped convolution's (k, c/g, f) becomes block-diagonal."""
        import numpy as np

        groups = layer.arg("groups", 1)
        if groups == 1:
            return kernel
        k, per_group, filters = kernel.shape
        dense = np.zeros((k, per_group * groups, filters), kernel.dtype)
        out_per_group = filters // groups
        for g in range(groups):
            rows, cols = slice(g * per_group, (g + 1) * per_group), slice(g * out_per_group, (g + 1) * out_per_group)
            dense[:, rows, cols] = kernel[:, :, cols]
        return dense

    def stream(self, layer, ins, taps, step):
        """Convolutions reading the same input with the same taps share one matmul (`step.group`)."""
        import tensorflow as tf

        kernel, bias, names, sizes = step.group(layer)
        if isinstance(taps, list):  # the exported step's rows, (batch, C) each, oldest first
            flat = tf.concat(taps, axis=-1)
        elif taps.shape[0] == 1 and len(ins[0].shape) == 2:  # a 1x1 convolution: the current step as it is
            flat = ins[0]
        else:
            flat = tf.reshape(tf.transpose(taps, [1, 0, 2]), [tf.shape(taps)[1], -1])
        product = tf.matmul(flat, kernel) + bias
        outs = tf.split(product, sizes, axis=-1) if len(sizes) > 1 else [product]
        return {name: _activation(step.graph.layer(name).arg("activation"))(out) for name, out in zip(names, outs)}


def _activation(value):
    """A Keras activation argument as a function: Keras's by name, causalc's by reference."""
    import keras

    return resolve(value) if isinstance(value, Reference) else keras.activations.get(value)


class Pool(Windowed):
    """Dilated causal max or average pooling (convert.layers.DilatedCausalPooling1D)."""

    name = "pool"
    size_arg = "pool_size"

    def stream(self, layer, ins, taps, step):
        import tensorflow as tf

        reduce = tf.reduce_max if layer.arg("pool_type") == "max" else tf.reduce_mean
        return {layer.name: reduce(taps, 0)}


def _depthwise(taps, kernel):
    """Taps (k, batch, c) through a depthwise kernel (k, c, m): (batch, c * m), channel c's outputs together."""
    import tensorflow as tf

    return tf.reshape(tf.einsum("kbc,kcm->bcm", taps, kernel), [tf.shape(taps)[1], -1])


class Depthwise(Windowed):
    """causalc's CausalDepthwiseConv1D: each input channel convolved with its own `depth_multiplier` filters."""

    name = "depthwise"
    size_arg = "kernel_size"

    def stream(self, layer, ins, taps, step):
        values = step.layer_weights(layer.name)
        out = _depthwise(taps, values[0])
        if len(values) > 1:
            out += values[1]
        return {layer.name: _activation(layer.arg("activation"))(out)}


class Separable(Windowed):
    """causalc's CausalSeparableConv1D: a depthwise step, then a pointwise matmul."""

    name = "separable"
    size_arg = "kernel_size"

    def stream(self, layer, ins, taps, step):
        import tensorflow as tf

        values = step.layer_weights(layer.name)
        out = tf.matmul(_depthwise(taps, values[0]), values[1][0])
        if len(values) > 2:
            out += values[2]
        return {layer.name: _activation(layer.arg("activation"))(out)}


class Edge(Op):
    """A layer of the exact 'same' practice model (`convert.edge_layers`): it reads the shared sequence V
    (slot 0 of its input) at fixed delays and the current edge slots; streamed by the layer's own `step`."""

    name = "edge"
    windowed = True
    calls_layer = True

    def delays(self, layer):
        return layer.arg("edge").step_delays() or (0,)

    def check(self, layer, padding):
        super().check(layer, padding)
        assert layer.module == "convert.edge_layers", f"{layer.name}: an edge layer"

    def stream(self, layer, ins, taps, step):
        import tensorflow as tf

        vtaps = tf.transpose(taps[:, :, 0, :], [1, 0, 2])  # (batch, delays, channels)
        return {layer.name: step.keras_layer(layer.name).step(vtaps, ins[0])}


class Windows(Op):
    """Per-window evaluation's first layer (`convert.edge_layers.Windows1D`): the window ending at t."""

    name = "windows"
    windowed = True

    def delays(self, layer):
        return tuple(range(layer.arg("window") - 1, -1, -1))

    def stream(self, layer, ins, taps, step):
        import tensorflow as tf

        return {layer.name: tf.transpose(taps, [1, 0, 2])}  # (batch, W, C)


class Call(Op):
    """A per-step layer in per-window evaluation: streamed by calling it on the current window's values."""

    name = "call"
    calls_layer = True

    def check(self, layer, padding):
        pass  # per-step layers keep their strides and padding

    def stream(self, layer, ins, taps, step):
        keras_layer = step.keras_layer(layer.name)
        return {layer.name: keras_layer(ins if len(ins) > 1 else ins[0], training=False)}


class Unwindows(Op):
    """Per-window evaluation's last layer: one window per step, so its value is the step's output (zero
    for the first W-1 steps, whose windows are not computed)."""

    name = "unwindows"

    def stream(self, layer, ins, taps, step):
        import tensorflow as tf

        out = tf.reshape(ins[0], [tf.shape(ins[0])[0], -1])
        return {layer.name: tf.where(step.t >= layer.arg("window") - 1, out, tf.zeros_like(out))}


class Pointwise(Op):
    """Any layer that maps each time step on its own (activation, normalisation, dropout, rescaling): streamed
    by the practice model's own layer, in inference mode, on the current step."""

    name = "pointwise"
    calls_layer = True

    def stream(self, layer, ins, taps, step):
        """The step as a sequence of one position ((batch, 1, ...)), and back; integers have no channel axis.
        An elementwise layer (an activation, or a dropout, the identity in inference) is called on the step's
        (batch, C) itself: the same values, and an exported step without the reshapes around it."""
        keras_layer = step.keras_layer(layer.name)
        if layer.cls in ELEMENTWISE and len(ins[0].shape) == 2 and ins[0].dtype.is_floating:
            return {layer.name: keras_layer(ins[0], training=False)}
        return {layer.name: keras_layer(ins[0][:, None], training=False)[:, 0]}


# layers whose value at a position is a function of the value there alone, whatever the tensor's rank
# (Softmax and PReLU are not: an axis or a shape of their own); Activation's softmax is over the last axis
ELEMENTWISE = frozenset({"Activation", "ReLU", "LeakyReLU", "ELU", "Dropout", "GaussianNoise", "GaussianDropout",
                         "AlphaDropout"})


class Merge(Op):
    name = "merge"

    def stream(self, layer, ins, taps, step):
        import tensorflow as tf

        add = (lambda xs: functools.reduce(tf.add, xs)) if getattr(step, "pairwise", False) else tf.add_n
        combine = {"Add": add, "Multiply": lambda xs: math.prod(xs[1:], start=xs[0]),
                   "Concatenate": lambda xs: tf.concat(xs, axis=-1)}[layer.cls]
        return {layer.name: combine(ins)}


class Pad(Op):
    """Exact warm-up's zeros in front of the input (ZeroPadding1D)."""

    name = "pad"


class Expand(Op):
    """An input brought to the step rate (convert.input_layers: a hop input's frames repeated, a global
    vector broadcast). The stream is given each input's value at the current step, so it passes it on."""

    name = "expand"

    def stream(self, layer, ins, taps, step):
        return {layer.name: ins[0]}


class Delay(Op):
    """A per-step crop of the newest positions (convert.layers.Delay1D): the input `steps` steps ago."""

    name = "delay"
    windowed = True

    def delays(self, layer):
        return (layer.arg("steps"),)

    def check(self, layer, padding):
        super().check(layer, padding)
        assert layer.arg("padding") == padding, f"{layer.name}: practice padding is {padding}"

    def stream(self, layer, ins, taps, step):
        return {layer.name: taps[0]}


class Crop(Op):
    """Exact warm-up's right-alignment of unpadded branches (Cropping1D)."""

    name = "crop"


OPS: dict[str, Op] = {op.name: op for op in (Conv(), Pool(), Depthwise(), Separable(), Edge(), Windows(), Call(),
                                              Unwindows(), Pointwise(), Merge(), Pad(), Crop(), Delay(),
                                              Expand())}
