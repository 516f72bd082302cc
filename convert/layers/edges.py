"""Keras layers of the exact 'same' practice model (`convert.edges`): tensors are (batch, T, slots, channels),
slot 0 the shared sequence V, slot s the s-th edge position's own sequence.

Every layer reads V at a fixed set of delays (`convert.edges.step_delays`) and the current edge slots. Over
a whole sequence (`call`) the delays are shifts of V; one step at a time (`step`, the streaming rule) they
are rows of a ring buffer. Both go through the same `compute`, so the stream equals the model. The
weighted layers subclass Keras's own, so their weights (names, shapes, initializers, regularizers,
constraints) are those of the unpadded practice layer and the weight map is unchanged. All registered:
saved models load in safe mode.
"""

from __future__ import annotations

import keras
from keras import ops

from convert.ir.edges import edge_argument
from convert.layers import tree_pool

NEG_INF = float("-inf")


def _shift(v, delay: int):
    """V (batch, T, c) delayed by `delay` steps, zeros before the sequence."""
    if delay == 0:
        return v
    return ops.pad(v, [[0, 0], [delay, 0], [0, 0]])[:, : ops.shape(v)[1], :]


def _delayed(v, delays) -> object:
    """(batch, T, len(delays), c): V at each delay."""
    shifted: dict[int, object] = {}
    for delay in delays:
        if delay not in shifted:
            shifted[delay] = _shift(v, delay)
    return ops.stack([shifted[d] for d in delays], axis=2) if delays else None


def _gather(x, vtaps, index, pad: float):
    """The taps of edge rows: index (rows, k) into [x's edge slots, vtaps, a zero slot, a pad slot]."""
    zero = ops.zeros_like(x[..., :1, :])
    parts = [x[..., 1:, :]] + ([vtaps] if vtaps is not None else []) + [zero, zero + pad]
    context = ops.concatenate(parts, axis=-2)
    size = ops.shape(context)[-2]
    index = ops.convert_to_tensor(index, "int32")
    return ops.take(context, ops.where(index < 0, index + size, index), axis=-2)


def _matmul_taps(taps, kernel):
    """taps (..., k, c) times a kernel (k, c, f): one matrix product over every leading position (an einsum
    with `...` would make TensorFlow's kernel gradient materialise every position's outer product)."""
    k, c = taps.shape[-2], taps.shape[-1]
    leading = ops.shape(taps)[:-2]
    product = ops.matmul(ops.reshape(taps, (-1, k * c)), ops.reshape(kernel, (k * c, -1)))
    return ops.reshape(product, (*leading, product.shape[-1]))


def _depthwise_taps(taps, kernel):
    """taps (..., k, c) through a depthwise kernel (k, c, m): (..., c * m), channel c's outputs together."""
    k, c = taps.shape[-2], taps.shape[-1]
    leading = ops.shape(taps)[:-2]
    out = ops.einsum("nkc,kcm->ncm", ops.reshape(taps, (-1, k, c)), kernel)
    return ops.reshape(out, (*leading, c * kernel.shape[-1]))


class _Edge:
    """What every edge layer shares: the `edge` plan in its config, and call/step through `compute`."""

    pad_value = 0.0

    def _edge_init(self, edge):
        """`edge`: the typed argument the lowering gives (convert.ir.edges), or its config from a saved model."""
        argument = edge_argument(edge)
        self.edge = argument.config()
        self.step_delays = argument.step_delays()

    def call(self, inputs):
        return self.compute(_delayed(inputs[:, :, 0, :], self.step_delays), inputs)

    def step(self, vtaps, current):
        """One step: vtaps (batch, len(step_delays), c) V at the delays; current (batch, slots, c)."""
        return self.compute(vtaps, current)

    def compute(self, vtaps, x):
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config["edge"] = self.edge
        return config


class _Window(_Edge):
    """A windowed layer: V through the layer's taps (when any output position is interior), and each edge
    row through the same taps gathered from the context."""

    def call(self, inputs):
        """Over whole sequences: V through the layer's own dilated causal form; the rows from the context."""
        v = inputs[:, :, 0, :]
        taps = self.edge["taps"] if self.edge["vpath"] else 0
        return self.compute(_delayed(v, self.step_delays[taps:]), inputs, self.sequence(v) if taps else None)

    def step(self, vtaps, current):
        taps = self.edge["taps"] if self.edge["vpath"] else 0
        rest = vtaps[..., taps:, :] if len(self.step_delays) > taps else None
        return self.compute(rest, current, self.apply(vtaps[..., :taps, :], "v") if taps else None)

    def compute(self, context, x, v=None):
        """`context`: V at the rows' delays; `v`: the V path's output (None when no position is interior)."""
        window = self.edge.get("window")
        if window is not None:  # every output position an edge: the per-step layer over the window's positions
            order = window["order"]
            if order == list(range(len(order))) and x.shape[-2] == len(order) + 1:  # the input's slots, in order
                positions = x[..., 1:, :]
            else:
                positions = _gather(x, context, [order], 0.0)[..., 0, :, :]
            n, c = positions.shape[-2], positions.shape[-1]
            leading = ops.shape(positions)[:-2]
            out = self.per_window(ops.reshape(positions, (-1, n, c)), window)
            rows = ops.reshape(out, (*leading, out.shape[-2], out.shape[-1]))
        elif self.edge["rows"]:
            rows = self.apply(_gather(x, context, self.edge["rows"], self.pad_value), "rows")
        else:
            rows = None
        v = (ops.zeros_like(rows[..., 0, :]) if v is None else v)[..., None, :]
        return v if rows is None else ops.concatenate([v, rows], axis=-2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2]) + (1 + len(self.edge["rows"]), self.out_channels(input_shape[-1]))


class _Convolution(_Window):
    """A Keras convolution (the class after this one in the MRO) with an `edge` plan: Keras's weights."""

    def __init__(self, *args, **kwargs):
        self._edge_init(kwargs.pop("edge"))
        super().__init__(*args, **{**kwargs, "padding": "valid"})

    def finish(self, z):
        if self.use_bias:
            z = z + self.bias
        return self.activation(z) if self.activation is not None else z

    def per_window(self, positions, window: dict):
        """(windows, n, c) through the per-step layer: Keras's operation with the spec's strides and padding."""
        arguments = {"strides": window["strides"], "padding": window["padding"], "dilation_rate": window["dilation"]}
        if self.keras_class is keras.layers.SeparableConv1D:
            z = ops.separable_conv(positions, self.depthwise_kernel, self.pointwise_kernel, **arguments)
        elif self.keras_class is keras.layers.DepthwiseConv1D:
            z = ops.depthwise_conv(positions, self.kernel, **arguments)
        else:
            z = ops.conv(positions, self.kernel, **arguments)
        return self.finish(z)

    def sequence(self, v):
        """V through Keras's own layer (this class's parent), causally padded: the unpadded practice layer."""
        reach = (self.edge["taps"] - 1) * self.edge["dilation"]
        return self.keras_class.call(self, ops.pad(v, [[0, 0], [reach, 0], [0, 0]]))


@keras.saving.register_keras_serializable(package="causalc")
class EdgeConv1D(_Convolution, keras.layers.Conv1D):
    """Conv1D (groups included) over edge slots; Keras's Conv1D weights."""

    keras_class = keras.layers.Conv1D

    def out_channels(self, channels):
        return self.filters

    def apply(self, taps, _):
        if self.groups == 1:
            return self.finish(_matmul_taps(taps, self.kernel))
        per_in, per_out = self.kernel.shape[1], self.filters // self.groups
        parts = [_matmul_taps(taps[..., g * per_in:(g + 1) * per_in], self.kernel[:, :, g * per_out:(g + 1) * per_out])
                 for g in range(self.groups)]
        return self.finish(ops.concatenate(parts, axis=-1))


@keras.saving.register_keras_serializable(package="causalc")
class EdgeDepthwiseConv1D(_Convolution, keras.layers.DepthwiseConv1D):
    """DepthwiseConv1D over edge slots; Keras's weights."""

    keras_class = keras.layers.DepthwiseConv1D

    def out_channels(self, channels):
        return channels * self.depth_multiplier

    def apply(self, taps, _):
        return self.finish(_depthwise_taps(taps, self.kernel))


@keras.saving.register_keras_serializable(package="causalc")
class EdgeSeparableConv1D(_Convolution, keras.layers.SeparableConv1D):
    """SeparableConv1D over edge slots; Keras's weights."""

    keras_class = keras.layers.SeparableConv1D

    def out_channels(self, channels):
        return self.filters

    def apply(self, taps, _):
        depthwise = _depthwise_taps(taps, self.depthwise_kernel)
        return self.finish(_matmul_taps(depthwise[..., None, :], self.pointwise_kernel))


@keras.saving.register_keras_serializable(package="causalc")
class EdgePooling1D(_Window, keras.layers.Layer):
    """Max or average pooling over edge slots: padded taps are ignored (the max of the real values, the
    average over the real count), as Keras's 'same' pools do."""

    def __init__(self, pool_type: str = "max", edge: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.pool_type = pool_type
        self._edge_init(edge)
        self.pad_value = NEG_INF if pool_type == "max" else 0.0
        self.counts = [float(sum(i != -1 for i in row)) for row in self.edge["rows"]]

    def out_channels(self, channels):
        return channels

    def sequence(self, v):
        return tree_pool(v, self.pool_type, self.edge["taps"], self.edge["dilation"], causal=True)

    def per_window(self, positions, window: dict):
        pool = ops.max_pool if self.pool_type == "max" else ops.average_pool
        return pool(positions, self.edge["taps"], strides=window["strides"], padding=window["padding"])

    def apply(self, taps, which):
        if self.pool_type == "max":
            return ops.max(taps, axis=-2)
        count = float(self.edge["taps"]) if which == "v" else ops.convert_to_tensor(self.counts)[:, None]
        return ops.sum(taps, axis=-2) / count

    def get_config(self):
        config = super().get_config()
        config["pool_type"] = self.pool_type
        return config


class _Collapse(_Edge):
    """A Flatten + Dense head or a global pool: the run of interior positions over V (a dilated convolution
    or doubling-tree pool over the whole sequence; taps of the ring in a step) plus the other positions."""

    @property
    def run_length(self) -> int:
        run = self.edge["run"]
        return run[1] - run[0] + 1 if run else 0

    @property
    def others(self) -> list[int]:
        """The positions outside the run (edge positions and scattered interior ones)."""
        return [p for p, _ in self.edge["others"]]

    def gather_others(self, x, rest, pad: float):
        """(..., 1, len(others), c): the positions outside the run, or None when there are none."""
        others = self.others
        return _gather(x, rest, [[index for _, index in self.edge["others"]]], pad) if others else None

    def call(self, inputs):
        v = inputs[:, :, 0, :]
        n = self.run_length
        run = _shift(self.run_sequence(v), self.edge["run"][2]) if n else None
        return self.combine(run, _delayed(v, self.step_delays[n:]), inputs)

    def compute(self, vtaps, x):
        n = self.run_length
        run = self.run_taps(vtaps[..., :n, :]) if n else None
        rest = vtaps[..., n:, :] if vtaps is not None and len(self.step_delays) > n else None
        return self.combine(run, rest, x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2]) + (1, self.out_channels(input_shape[-1]))


@keras.saving.register_keras_serializable(package="causalc")
class EdgeHead1D(_Collapse, keras.layers.Conv1D):
    """Flatten + Dense: the Dense kernel as a Conv1D kernel spanning the flattened positions (Keras's Conv1D
    weights, as the unpadded practice head holds them)."""

    def __init__(self, *args, **kwargs):
        self._edge_init(kwargs.pop("edge"))
        kwargs["padding"] = "valid"
        super().__init__(*args, **kwargs)

    def out_channels(self, channels):
        return self.filters

    def _rows(self):
        first, last, _ = self.edge["run"]
        return self.kernel[first:last + 1]

    def run_sequence(self, v):
        reach = (self.run_length - 1) * self.edge["grid"]
        padded = ops.pad(v, [[0, 0], [reach, 0], [0, 0]])
        return ops.conv(padded, self._rows(), strides=1, padding="valid", dilation_rate=self.edge["grid"])

    def run_taps(self, taps):
        return _matmul_taps(taps, self._rows())

    def combine(self, run, rest, x):
        taps = self.gather_others(x, rest, 0.0)
        z = run[..., None, :] if run is not None else None
        if taps is not None:
            part = _matmul_taps(taps, ops.take(self.kernel, self.others, axis=0))
            z = part if z is None else z + part
        if self.use_bias:
            z = z + self.bias
        return self.activation(z) if self.activation is not None else z


@keras.saving.register_keras_serializable(package="causalc")
class EdgeGlobalPooling1D(_Collapse, keras.layers.Layer):
    """GlobalAveragePooling1D or GlobalMaxPooling1D: the run by a doubling tree over V, the rest from slots."""

    def __init__(self, pool_type: str = "avg", edge: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.pool_type = pool_type
        self._edge_init(edge)

    def out_channels(self, channels):
        return channels

    def run_sequence(self, v):
        return tree_pool(v, self.pool_type, self.run_length, self.edge["grid"], causal=True)

    def run_taps(self, taps):
        return ops.max(taps, axis=-2) if self.pool_type == "max" else ops.mean(taps, axis=-2)

    def combine(self, run, rest, x):
        taps = self.gather_others(x, rest, 0.0)
        run = None if run is None else run[..., None, :]
        if self.pool_type == "max":
            out = None if taps is None else ops.max(taps, axis=-2)
            return run if out is None else out if run is None else ops.maximum(out, run)
        total = None if taps is None else ops.sum(taps, axis=-2)
        if run is not None:
            total = run * float(self.run_length) + (0.0 if total is None else total)
        return total / float(self.edge["width"])

    def get_config(self):
        config = super().get_config()
        config["pool_type"] = self.pool_type
        return config


@keras.saving.register_keras_serializable(package="causalc")
class EdgeAlign(_Edge, keras.layers.Layer):
    """A tensor brought to other positions without arithmetic: a merge input to the merge's positions,
    ZeroPadding1D's zeros added, or (`squeeze`) the model output's single position as (batch, T, c)."""

    def __init__(self, edge: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self._edge_init(edge)

    def compute(self, vtaps, x):
        edge, used = self.edge, 0
        if edge["v_delay"] is not None:
            v, used = vtaps[..., 0, :], 1
        else:
            v = ops.zeros_like(x[..., 0, :])
        slots = []
        for kind, value in edge["slots"]:
            if kind == "b":
                slots.append(x[..., value, :])
            elif kind == "d":
                slots.append(vtaps[..., used, :])
                used += 1
            else:
                slots.append(ops.zeros_like(x[..., 0, :]))
        if edge.get("squeeze"):
            return slots[0] if slots else v
        return ops.stack([v] + slots, axis=-2)

    def compute_output_shape(self, input_shape):
        if self.edge.get("squeeze"):
            return tuple(input_shape[:2]) + (input_shape[-1],)
        return tuple(input_shape[:2]) + (1 + len(self.edge["slots"]), input_shape[-1])
