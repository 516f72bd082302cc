"""Streaming: the practice model computed one time step at a time, with per-layer state.

Every practice layer with a kernel reads its input through a ring buffer holding the input's last
`(k-1)*dilation` steps and the current one (layers that read the same input share one ring, sized for the
longest reach). A zero ring is exactly causal zero padding, so fed a sequence step by step the stream
reproduces the practice model at every step, warm-up included. The step is traced once into a
TensorFlow graph (XLA-compiled); `run` and `generate` loop over time inside that graph, so no Python
runs per layer or per sample on the hot path.

    stream = StreamingModel("build/wavenet.keras", "specs/wavenet.yaml")
    y = stream.run(x)                  # (batch, T, C) -> (batch, T, units), state carried on
    stream.reset(batch_size=1)
    y_t = stream.step(x_t)             # (batch, C) -> (batch, units)
    saved = stream.get_state()         # {ring name: (batch, steps, channels)} + {"t": ...}
    stream.set_state(saved)
"""

from __future__ import annotations

import math
import os

import keras
import numpy as np
import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla

from convert import api
from convert.lower import Graph, GraphLayer, lower

MU = 255  # mu-law companding of WaveNet's 256-way output
CHUNK = 1024  # steps per compiled loop call: one XLA program serves every length


def mu_law_decode(levels, mu: int = MU):
    """Levels 0..mu -> samples in [-1, 1]."""
    y = 2.0 * tf.cast(levels, tf.float32) / mu - 1.0
    x = tf.sign(y) * (tf.pow(1.0 + mu, tf.abs(y)) - 1.0) / mu
    return tf.clip_by_value(x, -1.0, 1.0)  # XLA's pow is exp(log(.)) and can overshoot 1 by an ulp or so


def mu_law_encode(x, mu: int = MU) -> np.ndarray:
    """Samples in [-1, 1] -> levels 0..mu."""
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.rint((y + 1.0) / 2.0 * mu).astype(np.int64)


class StreamingModel:
    """The practice model of `spec` one step at a time; `model` is a practice keras.Model or a .keras path."""

    def __init__(self, model, spec, warmup: str | None = None):
        if not isinstance(model, keras.Model):
            model = api.load_model(model)
        self.analysis = api.load(spec)
        self.graph: Graph = lower(self.analysis, "causal")
        exact = any(type(layer).__name__ == "ZeroPadding1D" for layer in model.layers)
        self.warmup = warmup or ("exact" if exact else "causal")
        self.channels = self.analysis.spec.channels
        self.units = self.analysis.tensors[self.analysis.spec.output].channels
        self._weights = self._read_weights(model)
        self._rings = self._plan_rings()  # input tensor -> ring length
        self.ring_names = tuple(sorted(self._rings))
        self._step_graph = tf.function(self._step, jit_compile=True)
        self._run_graph = tf.function(self._run, jit_compile=True)
        self._state: tuple | None = None
        self._generate_graphs: dict = {}
        self.reset()

    # ---- set-up ----

    def _read_weights(self, model: keras.Model) -> dict:
        """Convolutions that read the same input with the same taps share one matmul: their kernels and
        biases are concatenated (WaveNet's filter and gate, its residual and skip 1x1 convolutions)."""
        weights = api.practice_weights(model, self.analysis)
        groups: dict[tuple, list[GraphLayer]] = {}
        for layer in self.graph.layers:
            if layer.cls == "Conv1D":
                key = (layer.inputs[0], layer.arg("kernel_size"), layer.arg("dilation_rate"))
                groups.setdefault(key, []).append(layer)
        self._group_of = {}
        out = {}
        for key, members in groups.items():
            kernels, biases = [], []
            for layer in members:
                values = weights[layer.name]
                kernels.append(values[0].reshape(-1, values[0].shape[-1]))
                biases.append(values[1] if len(values) > 1 else np.zeros(values[0].shape[-1], np.float32))
                self._group_of[layer.name] = key
            sizes = [k.shape[1] for k in kernels]
            out[key] = (tf.constant(np.concatenate(kernels, axis=1)), tf.constant(np.concatenate(biases)),
                        [m.name for m in members], sizes)
        return out

    def _plan_rings(self) -> dict[str, int]:
        rings: dict[str, int] = {}
        for layer in self.graph.layers:
            reach = _reach(layer)
            if reach:
                rings[layer.inputs[0]] = max(rings.get(layer.inputs[0], 1), reach + 1)
        return rings

    def ring_shapes(self, batch_size: int) -> dict[str, tuple[int, int, int]]:
        """(ring length, batch, channels) of every ring."""
        return {name: (length, batch_size, self.analysis.tensors[name].channels if name != "input" else self.channels)
                for name, length in self._rings.items()}

    # ---- the step, traced once ----

    def _step(self, x, t, rings, in_place: bool = True):
        """x (batch, C), t (), rings (tuple in ring_names order) -> y (batch, units), rings."""
        rings = dict(zip(self.ring_names, rings))
        values = {"input": x}
        written = set()
        for layer in self.graph.layers:
            source = layer.inputs[0]
            if source in rings and source not in written:
                length = self._rings[source]
                rings[source] = _write(rings[source], t % length, values[source], in_place)
                written.add(source)
            if layer.name not in values:
                values.update(self._layer(layer, values, rings, t))
        return values[self.graph.output], tuple(rings[name] for name in self.ring_names)

    def _layer(self, layer: GraphLayer, values: dict, rings: dict, t) -> dict:
        """The values this layer computes (a convolution computes its whole group's)."""
        ins = [values[name] for name in layer.inputs]
        if layer.cls == "Conv1D":
            kernel, bias, names, sizes = self._weights[self._group_of[layer.name]]
            taps = self._taps(layer, ins[0], rings, t)  # (k, batch, c)
            flat = tf.reshape(tf.transpose(taps, [1, 0, 2]), [tf.shape(taps)[1], -1])
            outs = tf.split(tf.matmul(flat, kernel) + bias, sizes, axis=-1) if len(sizes) > 1 else \
                [tf.matmul(flat, kernel) + bias]
            return {name: keras.activations.get(self.graph.layer(name).arg("activation"))(out)
                    for name, out in zip(names, outs)}
        if layer.cls == "DilatedCausalPooling1D":
            taps = self._taps(layer, ins[0], rings, t)
            return {layer.name: tf.reduce_max(taps, 0) if layer.arg("pool_type") == "max" else tf.reduce_mean(taps, 0)}
        if layer.cls == "Activation":
            return {layer.name: keras.activations.get(layer.arg("activation"))(ins[0])}
        if layer.cls == "Add":
            return {layer.name: tf.add_n(ins)}
        if layer.cls == "Multiply":
            return {layer.name: math.prod(ins[1:], start=ins[0])}
        if layer.cls == "Concatenate":
            return {layer.name: tf.concat(ins, axis=-1)}
        raise AssertionError(f"no streaming form for {layer.cls}")

    def _taps(self, layer: GraphLayer, current, rings: dict, t):
        kernel, dilation = layer.arg("kernel_size") or layer.arg("pool_size"), layer.arg("dilation_rate")
        if kernel == 1:
            return current[None]
        length = self._rings[layer.inputs[0]]
        offsets = tf.constant([(kernel - 1 - i) * dilation for i in range(kernel)], tf.int32)
        return tf.gather(rings[layer.inputs[0]], (t - offsets) % length)  # oldest tap first, as Keras's kernel

    def _run(self, xs, steps, t, rings):
        """The step in a loop inside the graph over the first `steps` rows of xs (CHUNK, batch, C).

        Buffers have the fixed chunk size and the trip count is a tensor, so XLA compiles one program
        for every sequence length."""
        outputs = tf.zeros((xs.shape[0], xs.shape[1], self.units))

        def body(i, t, rings, outputs):
            y, rings = self._step(xs[i], t, rings)
            return i + 1, t + 1, rings, xla.dynamic_update_slice(outputs, y[None], tf.stack([i, 0, 0]))

        _, t, rings, outputs = tf.while_loop(lambda i, *_: i < steps, body, (0, t, rings, outputs))
        return outputs, t, rings

    # ---- the public interface ----

    def reset(self, batch_size: int = 1) -> None:
        """Zero state (causal warm-up); in exact warm-up, the state an all-zero history of W-1 steps leaves."""
        shapes = self.ring_shapes(batch_size)
        self._state = (tf.constant(0, tf.int32), tuple(tf.zeros(shapes[n], tf.float32) for n in self.ring_names))
        self.batch_size = batch_size
        if self.warmup == "exact" and self.analysis.window > 1:
            self.run(np.zeros((batch_size, self.analysis.window - 1, self.channels), np.float32))

    def step(self, x_t) -> np.ndarray:
        """One time step: (batch, C) -> (batch, units)."""
        x_t = self._check(x_t, 2)
        t, rings = self._state
        y, rings = self._step_graph(x_t, t, rings)
        self._state = (t + 1, rings)
        return y.numpy()

    def run(self, x) -> np.ndarray:
        """(batch, T, C) -> (batch, T, units), one step at a time inside the graph; the state carries on."""
        x = self._check(x, 3).numpy()
        pieces = []
        for start in range(0, x.shape[1], CHUNK):
            part = np.transpose(x[:, start:start + CHUNK], [1, 0, 2])
            steps = part.shape[0]
            padded = np.zeros((CHUNK,) + part.shape[1:], np.float32)
            padded[:steps] = part
            t, rings = self._state
            ys, t, rings = self._run_graph(tf.constant(padded), tf.constant(steps), t, rings)
            self._state = (t, rings)
            pieces.append(np.transpose(ys.numpy()[:steps], [1, 0, 2]))
        return np.concatenate(pieces, axis=1) if pieces else np.zeros((self.batch_size, 0, self.units), np.float32)

    def get_state(self) -> dict[str, np.ndarray]:
        """The state as arrays: for each ring, its input's last steps, oldest first, (batch, steps, channels),
        and `t`, the steps taken since reset. Restoring it with set_state resumes exactly."""
        t, rings = self._state
        t = int(t)
        out = {"t": np.array(t, np.int64)}
        for name, ring in zip(self.ring_names, rings):
            length = self._rings[name]
            order = [(t - length + 1 + j) % length for j in range(length - 1)]
            out[name] = np.transpose(ring.numpy()[order], [1, 0, 2])
        return out

    def set_state(self, state: dict) -> None:
        t = int(state["t"])
        rings = []
        for name in self.ring_names:
            length, batch, channels = self.ring_shapes(np.asarray(state[name]).shape[0])[name]
            history = np.asarray(state[name], np.float32)
            if history.shape != (batch, length - 1, channels):
                raise ValueError(f"state `{name}`: expected shape {(batch, length - 1, channels)}; found {history.shape}")
            ring = np.zeros((length, batch, channels), np.float32)
            ring[[(t - length + 1 + j) % length for j in range(length - 1)]] = np.transpose(history, [1, 0, 2])
            rings.append(tf.constant(ring))
        self.batch_size = rings[0].shape[1] if rings else self.batch_size
        self._state = (tf.constant(t, tf.int32), tuple(rings))

    def _check(self, x, ndim: int) -> tf.Tensor:
        x = np.asarray(x, np.float32)
        if x.ndim != ndim or x.shape[-1] != self.channels or x.shape[0] != self.batch_size:
            want = "(batch, C)" if ndim == 2 else "(batch, T, C)"
            raise ValueError(f"expected {want} with batch {self.batch_size} and C = {self.channels}; "
                             f"received shape {x.shape} (call reset(batch_size) to change the batch)")
        return tf.constant(x)

    # ---- generation ----

    @property
    def output_kind(self) -> str:
        """'mu-law' for a 256-way softmax over one channel, 'regression' when units == channels."""
        last = self.analysis.spec.layer(self.analysis.spec.output)
        if self.units == MU + 1 and self.channels == 1 and last.activation == "softmax":
            return "mu-law"
        if self.units == self.channels:
            return "regression"
        raise ValueError(f"cannot feed the output back: it has {self.units} units for {self.channels} input "
                         "channel(s); generation needs a 256-way softmax over one channel (mu-law) or units == channels")

    def generate(self, steps: int, first=None, seed: int = 0, temperature: float = 1.0, progress=None) -> np.ndarray:
        """Autoregressive samples (batch, steps, C), starting from the current state with input `first`
        (batch, C; default zeros). The same seed and state give the same samples; `progress(n)` is told
        of every chunk done."""
        kind = self.output_kind
        if temperature <= 0:
            raise ValueError(f"`temperature` must be positive; received {temperature}")
        x = self._check(np.zeros((self.batch_size, self.channels)) if first is None else first, 2)
        loop = self._generate_graph(kind)
        pieces, done = [], 0
        while done < steps:
            n = min(CHUNK, steps - done)
            t, rings = self._state
            samples, x, t, rings = loop(x, t, rings, tf.constant(n), tf.constant([seed, done], tf.int32),
                                        tf.constant(temperature, tf.float32))
            self._state = (t, rings)
            pieces.append(np.transpose(samples.numpy()[:n], [1, 0, 2]))
            done += n
            if progress:
                progress(n)
        return np.concatenate(pieces, axis=1) if pieces else np.zeros((self.batch_size, 0, self.channels), np.float32)

    def _generate_graph(self, kind: str):
        if kind not in self._generate_graphs:
            def generate(x, t, rings, steps, seed, temperature):
                samples = tf.zeros((CHUNK, self.batch_size, self.channels))

                def body(i, x, t, rings, samples):
                    y, rings = self._step(x, t, rings)
                    if kind == "mu-law":  # inverse-CDF sampling: one uniform number per sample
                        weights = tf.pow(tf.maximum(y, 1e-30), 1.0 / temperature)
                        cdf = tf.cumsum(weights, axis=-1)
                        u = tf.random.stateless_uniform((self.batch_size, 1), seed + tf.stack([0, i])) * cdf[:, -1:]
                        level = tf.minimum(tf.reduce_sum(tf.cast(cdf < u, tf.int32), axis=-1), MU)
                        x = mu_law_decode(level)[:, None]
                    else:
                        x = y
                    return i + 1, x, t + 1, rings, xla.dynamic_update_slice(samples, x[None], tf.stack([i, 0, 0]))

                _, x, t, rings, samples = tf.while_loop(lambda i, *_: i < steps, body, (0, x, t, rings, samples))
                return samples, x, t, rings

            self._generate_graphs[kind] = tf.function(generate, jit_compile=True)
        return self._generate_graphs[kind]

    # ---- export ----

    def step_function(self, batch_size: int = 1):
        """A concrete function `step(x, t, *rings) -> (y, t + 1, *rings)` with explicit state."""
        shapes = self.ring_shapes(batch_size)
        signature = [tf.TensorSpec((batch_size, self.channels), tf.float32, name="x"),
                     tf.TensorSpec((), tf.int32, name="t")]
        signature += [tf.TensorSpec(shapes[n], tf.float32, name=_tensor_name(n)) for n in self.ring_names]

        def step(x, t, *rings):
            y, rings = self._step(x, t, rings, in_place=False)  # traced without XLA: a plain scatter
            return {"y": y, "t": t + 1, **{_tensor_name(n): r for n, r in zip(self.ring_names, rings)}}

        return tf.function(step, input_signature=signature)

    def export(self, folder: str, batch_size: int = 1, tflite: bool = True) -> dict[str, str]:
        """Write the step function with explicit state as a SavedModel (and a .tflite file where the ops
        allow); a deployment runs it with TensorFlow (or the TFLite interpreter) alone."""
        function = self.step_function(batch_size)
        module = tf.Module()
        module.step = function
        os.makedirs(folder, exist_ok=True)
        saved = os.path.join(folder, "saved_model")
        tf.saved_model.save(module, saved, signatures={"serving_default": function.get_concrete_function()})
        written = {"saved_model": saved}
        if tflite:
            converter = tf.lite.TFLiteConverter.from_saved_model(saved)
            path = os.path.join(folder, "step.tflite")
            with open(path, "wb") as handle:
                handle.write(converter.convert())
            written["tflite"] = path
        return written


def _write(ring, position, value, in_place: bool):
    """Put the current step into its ring. Under XLA a dynamic-update-slice, done in place in the loop;
    exported graphs (no XLA) use a scatter, which TFLite has."""
    if in_place:
        return xla.dynamic_update_slice(ring, value[None], tf.stack([position, 0, 0]))
    return tf.tensor_scatter_nd_update(ring, [[position]], value[None])


def _reach(layer: GraphLayer) -> int:
    kernel = layer.arg("kernel_size") or layer.arg("pool_size") or 1
    return (kernel - 1) * (layer.arg("dilation_rate") or 1)


def _tensor_name(ring: str) -> str:
    return "ring_" + "".join(c if c.isalnum() else "_" for c in ring)
