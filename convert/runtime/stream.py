"""Streaming: the practice model computed one time step at a time, with per-layer state.

Every windowed practice op reads its input through a ring buffer holding the input's last
`(k-1)*dilation` steps and the current one (layers that read the same input share one ring, sized for the
longest reach). A zero ring is exactly causal zero padding, so fed a sequence step by step the stream
reproduces the practice model at every step, warm-up included. Each op's one-step rule lives with the op
(`convert.kinds.ops`). The step is traced once into a TensorFlow graph (XLA-compiled); `run` and
`generate` loop over time inside that graph, so no Python runs per layer or per sample on the hot path.

    stream = StreamingModel("build/wavenet.keras", "specs/wavenet.yaml")   # warmup="exact" if compiled so
    y = stream.run(x)                  # (batch, T, C) -> (batch, T, units), state carried on
    stream.reset(batch_size=1)
    y_t = stream.step(x_t)             # (batch, C) -> (batch, units)

With several inputs, `run` takes what the practice model takes (a list in spec order, or a dict by name;
a hop input's frames and a global input's vector cover the sequence from the stream's step 0), and `step`
each input's value at the step: (batch, C), (batch,) integers, a hop input's frame for the step (the
output at t sees frame (t+1) // hop), a global input's vector.
    saved = stream.get_state()         # {ring name: (batch, steps, channels)} + {"t": ...}
    stream.set_state(saved)

Generation (`convert.runtime.generation`) and export (`convert.runtime.export`) build on this step.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla

from convert.ir.graph import Graph, GraphLayer
from convert.kinds.ops import OPS, UnknownOp
from convert.lowering import lower
from convert.runtime import api, conditioning
from convert.runtime.api import check_warmup
from convert.runtime.fusion import fuse
from convert.core.errors import BadValue, CausalcError

CHUNK = 1024  # steps per compiled loop call: one XLA program serves every length


class WrongBackend(CausalcError, RuntimeError):
    """A TensorFlow-only part of causalc asked for under another Keras backend."""


class StreamingModel:
    """The practice model of `spec` one step at a time; `model` is a practice keras.Model or a .keras path
    compiled with warm-up `warmup` ("causal" or "exact": the stream is told, and checks the model)."""

    chunk = CHUNK

    def __init__(self, model, spec, warmup: str = "causal"):
        if keras.backend.backend() != "tensorflow":  # the step is a TensorFlow graph calling the model's layers
            raise WrongBackend(f"the stream runs on TensorFlow; Keras's backend here is {keras.backend.backend()} "
                               "(KERAS_BACKEND): stream, generate and export with KERAS_BACKEND=tensorflow")
        if not isinstance(model, keras.Model):
            model = api.load_model(model)
        self.analysis = api.load(spec)
        self.warmup = check_warmup(model, self.analysis, warmup)
        self.graph: Graph = lower(self.analysis, "causal")
        # an exact 'same' model in exact warm-up pads its input; the stream is its causal graph after the padding
        for layer in self.graph.layers:
            if layer.op not in OPS:
                raise UnknownOp(f"{layer.name}: no practice op {layer.op!r} to stream")
        self.model = model
        self.nodes = self.analysis.spec.inputs
        self.signal = self.nodes.index(self.analysis.spec.signal)  # the fed-back input in generation
        self.channels = self.nodes[self.signal].channels
        self.units = self.analysis.tensors[self.analysis.spec.output].channels
        self._weights = api.practice_weights(model, self.analysis)
        self._groups, self._group_of = fuse(self.graph, self._weights)
        self.pairwise = False  # an Add of several inputs as one n-way sum (see `apart`)
        self._rings = plan_rings(self.graph)  # input tensor -> ring length
        self._conditioning = self._conditioning_layers()
        self.ring_names = tuple(sorted(self._rings))
        self._step_graph = tf.function(self._step, jit_compile=True, autograph=False)
        self._run_graph = tf.function(self._run, jit_compile=True, autograph=False)
        self._state: tuple | None = None
        self._constants = {name: [tf.constant(v) for v in values] for name, values in self._weights.items()}
        self._generate_graphs: dict = {}
        self.batch_size, self.origin = 1, 0
        if not (self.warmup == "exact" and any(node.is_global for node in self.nodes)):
            self.reset()  # otherwise the warm-up needs the global inputs: reset(batch_size, globals=...)

    # ---- what the ops' streaming rules ask for ----

    def group(self, layer: GraphLayer) -> tuple:
        """(kernel, bias, layer names, output sizes) of the fused convolutions `layer` belongs to."""
        return self._groups[self._group_of[layer.name]]

    def keras_layer(self, name: str) -> keras.layers.Layer:
        return self.model.get_layer(name)

    def layer_weights(self, name: str) -> list:
        """A practice layer's weights as constants, in Keras's order."""
        return self._constants[name]

    def ring_shapes(self, batch_size: int) -> dict[str, tuple[int, ...]]:
        """(ring length, batch, channels) of every ring ((ring length, batch, slots, channels) in an exact
        'same' model)."""
        return {name: (length, batch_size) + self.graph.step_shape(name) for name, length in self._rings.items()}

    def memory(self, batch_size: int, steps: int = CHUNK) -> int:
        """Bytes a stream of `batch_size` holds at once: its rings twice (the state going into a step and the
        one coming out), `steps` of inputs and outputs (a chunk of `run`), one step of every layer's values."""
        from convert.analysis.limits import peak_values

        rings = sum(int(np.prod(shape)) for shape in self.ring_shapes(batch_size).values())
        inputs = sum(node.channels for node in self.nodes) + self.units
        values = peak_values(self.analysis)
        return 4 * (2 * rings + batch_size * (steps * inputs + values))

    def check_batch(self, batch_size: int, what: str = "the stream", steps: int = CHUNK) -> None:
        """Refuse (TooLarge) a batch whose state would pass causalc's memory limit, before allocating it."""
        from convert.core import limits
        from convert.core.errors import TooLarge

        rings = sum(int(np.prod(shape)) for shape in self.ring_shapes(1).values())
        largest = max([int(np.prod(shape)) for shape in self.ring_shapes(batch_size).values()] +
                      [batch_size * steps * (node.channels or 1) for node in self.nodes])
        if largest >= 2**31:  # past TensorFlow's 32-bit indexing, whatever the memory limit
            raise TooLarge(f"{what} of {batch_size:,} sequence(s) would hold a tensor of {largest:,} values; "
                               "TensorFlow's kernels index at most 2**31 - 1: use a smaller batch")
        limits.check_memory(f"{what} of {batch_size:,} sequence(s) (rings of {rings:,} values each)",
                            self.memory(batch_size, steps), "use a smaller batch")

    # ---- the step, traced once ----

    def _step(self, xs, t, rings, columns: bool = False, known: dict | None = None):
        """xs (each input's value at the step, in spec order), t (), rings (tuple in ring_names order)
        -> y (batch, units), rings. `known`: values of the step already computed (`_precompute`).

        With `columns` the rings are only read (the past steps), and the step returns, in place of the
        rings, each ring's column (its input's value at this step), which the caller writes at row t % length:
        the exported step's form, whose cost does not grow with the rings' length."""
        rings = dict(zip(self.ring_names, rings))
        values = {node.name: x for node, x in zip(self.nodes, xs)}
        values.update(known or {})
        self.t = t  # the step being computed, for rules that depend on it (per-window evaluation's warm-up)
        self._shifted = {}  # t + offset, shared by every ring read at that offset (the exported step's positions)
        written = set()
        for layer in self.graph.layers:
            op = OPS[layer.op]
            source = layer.inputs[0]
            if source in rings and source not in written and not columns:
                rings[source] = _write(rings[source], t % self._rings[source], values[source])
                written.add(source)
            if layer.name not in values:
                taps = self._taps(layer, op, values[source], rings, t, columns) if op.windowed else None
                values.update(op.stream(layer, [values[name] for name in layer.inputs], taps, self))
        if columns:
            return values[self.graph.output], tuple(values[name] for name in self.ring_names)
        return values[self.graph.output], tuple(rings[name] for name in self.ring_names)

    def _taps(self, layer: GraphLayer, op, current, rings: dict, t, past_only: bool = False):
        """The input at the op's delays as (delays, batch, ...), in the op's order (oldest first for a kernel).
        `past_only`: the ring holds the past steps only, and the current step is `current`."""
        delays = op.delays(layer)
        if delays == (0,):
            return tf.expand_dims(current, 0)
        length = self._rings[layer.inputs[0]]
        if not past_only:
            return tf.gather(rings[layer.inputs[0]], (t - tf.constant(delays, tf.int32)) % length)
        past = [d for d in delays if d]
        if len(past) == 1 and len(current.shape) == 2 and getattr(op, "takes_rows", False):
            # one past step (a kernel of 2): its row alone, (batch, C), at (t + length - d) mod length, where
            # t + length - d is shared by every ring of that offset (t + 1 for a ring read by one layer)
            offset = length - past[0]
            if offset not in self._shifted:
                self._shifted[offset] = t + offset
            row = tf.gather(rings[layer.inputs[0]], self._shifted[offset] % length)
            return [current if d == 0 else row for d in delays]
        rows = tf.gather(rings[layer.inputs[0]], (t - tf.constant(past, tf.int32)) % length)
        if len(past) == len(delays):
            return rows
        rows = tf.concat([rows, tf.expand_dims(current, 0)], axis=0)  # the current step last, then in the op's order
        order = [len(past) if d == 0 else past.index(d) for d in delays]
        return rows if order == list(range(len(delays))) else tf.gather(rows, order)

    def _run(self, xs, steps, t, rings):
        """The step in a loop inside the graph over the first `steps` rows of xs (each input's
        (CHUNK, batch, ...) at the step rate).

        Buffers have the fixed chunk size and the trip count is a tensor, so XLA compiles one program
        for every sequence length."""
        outputs = tf.zeros((xs[0].shape[0], xs[0].shape[1], self.units))
        known = self._precompute({node.name: x for node, x in zip(self.nodes, xs)})

        def body(i, t, rings, outputs):
            y, rings = self._step([x[i] for x in xs], t, rings, known={k: v[i] for k, v in known.items()})
            return i + 1, t + 1, rings, xla.dynamic_update_slice(outputs, y[None], tf.stack([i, 0, 0]))

        _, t, rings, outputs = tf.while_loop(lambda i, *_: i < steps, body, (0, t, rings, outputs))
        return outputs, t, rings

    def _conditioning_layers(self) -> tuple[GraphLayer, ...]:
        """Layers that read only the conditioning inputs (not the signal) and no past step: given the
        conditioning, they do not depend on what is generated, so a run or a generation computes them for a
        whole chunk before its loop, one matrix product per layer instead of one per step (WaveNet's 1x1
        projections of its mel frames and speaker vector)."""
        ready = {node.name for i, node in enumerate(self.nodes) if i != self.signal}
        out = []
        for layer in self.graph.layers:
            op = OPS[layer.op]
            if (set(_reads(layer)) <= ready and op.name in ("conv", "depthwise", "separable", "pointwise", "merge", "expand")
                    and (not op.windowed or op.delays(layer) == (0,))):
                ready.add(layer.name)
                out.append(layer)
        return tuple(out)

    def _precompute(self, chunks: dict) -> dict:
        """The conditioning layers over a chunk: {name: (CHUNK, batch, ...)} from the inputs' chunks."""
        if not self._conditioning:
            return {}
        steps, batch = next(iter(chunks.values())).shape[:2]
        values = {name: tf.reshape(x, (-1,) + tuple(x.shape[2:])) for name, x in chunks.items()}
        for layer in self._conditioning:  # steps and batch as one batch of rows
            op = OPS[layer.op]
            ins = [values[name] for name in _reads(layer)]
            values.update(op.stream(layer, ins, ins[0][None] if op.windowed else None, self))
        return {layer.name: tf.reshape(values[layer.name], (steps, batch) + tuple(values[layer.name].shape[1:]))
                for layer in self._conditioning}

    # ---- the public interface ----

    def reset(self, batch_size: int = 1, globals: dict | None = None) -> None:
        """Zero state (causal warm-up); in exact warm-up, the state an all-zero history of W-1 steps leaves
        (a global input, the same at every step, is then given by name in `globals`)."""
        self.check_batch(batch_size)
        shapes = self.ring_shapes(batch_size)
        self._state = (tf.constant(0, tf.int32), tuple(tf.zeros(shapes[n], tf.float32) for n in self.ring_names))
        self.batch_size = batch_size
        self.origin = 0  # the stream's step of the sequence's first step
        if self.warmup == "exact" and self.analysis.window > 1:
            steps, given = self.analysis.window - 1, dict(globals or {})
            missing = [node.name for node in self.nodes if node.is_global and node.name not in given]
            if missing:
                raise conditioning.ConditionError(f"exact warm-up sees the global input(s) {', '.join(missing)} "
                                                  "from the first step: pass reset(globals={name: array})")
            zeros = [given[node.name] if node.is_global else np.zeros(
                conditioning.expected_shape(node, batch_size, steps, steps // node.hop + 1 if node.hop else 0),
                np.int32 if node.categories else np.float32) for node in self.nodes]
            self.run(zeros)
            self.origin = steps  # the warm-up's steps come before the sequence's step 0

    def step(self, x_t) -> np.ndarray:
        """One time step: each input's value at the step -> (batch, units)."""
        xs = [tf.constant(value) for value in self._check(x_t, step=True)]
        t, rings = self._state
        y, rings = self._step_graph(xs, t, rings)
        self._state = (t + 1, rings)
        return y.numpy()

    def run(self, x) -> np.ndarray:
        """What the practice model takes -> (batch, T, units), one step at a time inside the graph; the
        state carries on."""
        arrays = self._check(x)
        steps = arrays[self.signal].shape[1]
        start = int(self._state[0]) - self.origin
        for node, value in zip(self.nodes, arrays):
            if node.hop and steps:
                conditioning.check_frames(node, value, start + steps - 1)
        pieces = []
        for first in range(0, steps, CHUNK):
            n = min(CHUNK, steps - first)
            part = conditioning.step_rate(self.nodes, [v if node.is_global or node.hop else v[:, first:first + n]
                                                       for node, v in zip(self.nodes, arrays)], start + first, n)
            padded = [np.concatenate([p, np.zeros((CHUNK - n,) + p.shape[1:], p.dtype)]) for p in part]
            t, rings = self._state
            ys, t, rings = self._run_graph([tf.constant(p) for p in padded], tf.constant(n), t, rings)
            self._state = (t, rings)
            pieces.append(np.transpose(ys.numpy()[:n], [1, 0, 2]))
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
            out[name] = np.moveaxis(ring.numpy()[order], 0, 1)
        return out

    def set_state(self, state: dict) -> None:
        t = int(state["t"])
        rings = []
        for name in self.ring_names:
            length, batch, *step = self.ring_shapes(np.asarray(state[name]).shape[0])[name]
            history = np.asarray(state[name], np.float32)
            if history.shape != (batch, length - 1, *step):
                raise BadValue(f"state `{name}`: expected shape {(batch, length - 1, *step)}; found {history.shape}")
            ring = np.zeros((length, batch, *step), np.float32)
            ring[[(t - length + 1 + j) % length for j in range(length - 1)]] = np.moveaxis(history, 1, 0)
            rings.append(tf.constant(ring))
        self.origin = self.analysis.window - 1 if self.warmup == "exact" else 0
        self.batch_size = rings[0].shape[1] if rings else self.batch_size
        self._state = (tf.constant(t, tf.int32), tuple(rings))

    def _require_state(self) -> None:
        """A stream in exact warm-up with global inputs has no state until reset is given them."""
        if self._state is None:
            raise conditioning.ConditionError("exact warm-up sees the global inputs from the first step: call "
                                              "reset(batch_size, globals={name: array}) first")

    def _check(self, x, step: bool = False) -> list[np.ndarray]:
        """Each input's array, checked (`step`: its value at one step, as a global input's vector)."""
        self._require_state()
        arrays = conditioning.as_list(self.nodes, x)
        out = []
        for node, value in zip(self.nodes, arrays):
            at_step = node if not step else conditioning.at_step(node)
            try:
                out.append(conditioning.check(at_step, value, self.batch_size))
            except conditioning.ConditionError as error:
                raise conditioning.ConditionError(f"{error} (call reset(batch_size) to change the batch)"
                                                  if "batch" in str(error) else str(error)) from None
        if not step and len({v.shape[1] for node, v in zip(self.nodes, out) if node.sequence}) > 1:
            raise conditioning.ConditionError("the sequence inputs have different lengths")
        return out

    # ---- generation and export (convert.runtime.generation, convert.runtime.export) ----

    @property
    def output_kind(self) -> str:
        from convert.runtime.generation import output_kind

        return output_kind(self.analysis)

    def generate(self, steps: int, first=None, seed: int = 0, temperature: float = 1.0, progress=None,
                 conditions=None) -> np.ndarray:
        """Autoregressive samples (batch, steps, C), or levels (batch, steps); see
        `convert.runtime.generation.generate`."""
        from convert.runtime.generation import generate

        return generate(self, steps, first, seed, temperature, progress, conditions)

    @contextlib.contextmanager
    def apart(self):
        """Meanwhile the step computes every convolution with its own matmul and sums pairwise (no shared
        matmul split, no n-way sum): what an int8 step is traced from, as an int8 split or n-way sum gives
        all its tensors one scale (LiteRT), and WaveNet's residual stream would share the skips' coarse one."""
        saved = self._groups, self._group_of
        self._groups, self._group_of = fuse(self.graph, self._weights, apart=True)
        self.pairwise = True
        try:
            yield
        finally:
            self._groups, self._group_of = saved
            self.pairwise = False

    def step_function(self, batch_size: int = 1):
        from convert.runtime.export import step_function

        return step_function(self, batch_size)

    def export(self, folder: str, batch_size: int = 1, tflite: bool = True, calibration: list | None = None) -> dict[str, str]:
        from convert.runtime.export import export

        return export(self, folder, batch_size, tflite, calibration)


def _reads(layer: GraphLayer) -> tuple[str, ...]:
    """The tensors whose values a layer's step reads: an input's expansion reads the input alone (its second
    input, the signal, only gives the practice model its length)."""
    return layer.inputs[:1] if layer.op == "expand" else layer.inputs


def plan_rings(graph: Graph) -> dict[str, int]:
    """Ring length of every tensor a windowed op reads: the furthest reach of any reader, plus the current step."""
    rings: dict[str, int] = {}
    for layer in graph.layers:
        op = OPS[layer.op]
        if op.windowed:
            reach = max(op.delays(layer))
            if reach:
                rings[layer.inputs[0]] = max(rings.get(layer.inputs[0], 1), reach + 1)
    return rings


def _write(ring, position, value):
    """Put the current step into its ring: under XLA a dynamic-update-slice, done in place in the loop."""
    return xla.dynamic_update_slice(ring, value[None], tf.stack([position] + [0] * (len(ring.shape) - 1)))
