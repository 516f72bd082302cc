"""The loop that drives an exported step (a folder written by `causalc export-step`) with ONNX Runtime or
LiteRT alone: NumPy and the runtime, no TensorFlow, no other part of causalc but the manifest it reads.
This is the piece to copy into an application.

    runner = StepRunner("build/wavenet-step")          # runtime="onnx" (step.onnx) or "litert" (step.tflite);
                                                        # int8=True: step-int8.onnx or step-int8.tflite
    y = runner.step(x)                                  # each input's value at the step -> (batch, units)
    ys = runner.run([x])                                # each input as the practice model takes it -> (batch, T, units)
    runner.reset()
    samples = runner.generate(16000, seed=0)            # exactly `causalc generate`'s sampling

The state stays in the runtime's own input buffers: each step the runtime reads the rings, returns one
column per ring (its tensor's value at this step), and the loop writes that column at row t % length. Nothing
else is copied, so a step costs the same whatever the receptive field.
"""

from __future__ import annotations

import os

import numpy as np

from convert.deploy import manifest as manifests
from convert.core.errors import BadValue, CausalcError
from convert.core.quiet import quiet_stderr

RUNTIMES = ("onnx", "litert")
CHUNK = 1024  # generation draws its uniform numbers a chunk at a time, as `causalc generate` does


class RuntimeMissing(CausalcError, RuntimeError):
    """The runtime asked for is not installed."""


class StepRunner:
    """An exported step with its state: `step`, `run` and `generate` carry the state on; `reset` restarts it."""

    def __init__(self, folder: str, runtime: str = "onnx", int8: bool = False, threads: int | None = None):
        if runtime not in RUNTIMES:
            raise BadValue(f"runtime must be one of {', '.join(RUNTIMES)}; received {runtime!r}")
        m = manifests.read(folder)
        files = m["files"].get(runtime + ("-int8" if int8 else ""))
        if files is None:
            have = ", ".join(sorted(m["files"])) or "none"
            how = ("export-step --quantize int8 --calibration FILE" if int8 else "export-step --format " +
                   ("onnx" if runtime == "onnx" else "saved_model (with step.tflite)"))
            raise BadValue(f"{folder} holds no {'int8 ' if int8 else ''}{runtime} step (it has: {have}); write one "
                           f"with causalc {how}")
        if m["state"][0]["initial"] is None:
            raise BadValue(f"{folder}: the step starts from a state its global inputs decide (exact warm-up), "
                           "which the export could not write: export with --warmup causal")
        with np.load(os.path.join(folder, m["state"][0]["initial"])) as saved:
            initial = {s["name"]: np.array(saved[s["name"]]) for s in m["state"]}
        self._setup(m, initial, os.path.join(folder, files), runtime, threads)
        self.folder = folder

    @classmethod
    def in_memory(cls, manifest: dict, initial: dict, content: bytes, runtime: str = "onnx",
                  threads: int | None = None) -> "StepRunner":
        """A runner of a step held in memory (`content`, the file's bytes) with its manifest and initial state
        (as `initial_state.npz` holds it): what export-step uses to calibrate and check an int8 step."""
        runner = cls.__new__(cls)
        runner._setup(manifest, initial, content, runtime, threads)
        runner.folder = None
        return runner

    def _setup(self, m: dict, initial: dict, source, runtime: str, threads: int | None) -> None:
        self.manifest = m
        self.batch_size = m["batch_size"]
        self.inputs = [i for i in m["inputs"] if "input" in i]
        self.signal = next(k for k, i in enumerate(self.inputs) if i["signal"])
        self.rings = [s for s in m["state"] if "column" in s]
        self.units = m["outputs"][0]["shape"][1]
        self._initial = initial
        if threads is None and self.batch_size == 1:
            threads = 1  # one sequence's step is many small ops: sharing each across threads costs more than it gains
        self._engine = (_Onnx if runtime == "onnx" else _Lite)(source, m, threads)
        self.reset()

    # ---- the state ----

    def reset(self) -> None:
        """Back to the exported initial state."""
        self.t = int(self._initial["t"])
        self.origin = self.t  # the sequence's step 0 (after exact warm-up's W-1 steps)
        self._engine.load({s["name"]: self._initial[s["name"]] for s in self.rings})

    # ---- stepping ----

    def step(self, *xs) -> np.ndarray:
        """Each input's value at the step, in spec order ((batch, C), or (batch,) integers; a hop input's frame,
        a global input's vector) -> y (batch, units)."""
        if len(xs) != len(self.inputs):
            raise BadValue(f"the step takes {len(self.inputs)} input(s) ({', '.join(i['input'] for i in self.inputs)}); "
                           f"received {len(xs)}")
        y = self._engine.step([np.asarray(x, i["dtype"]).reshape(i["shape"]) for x, i in zip(xs, self.inputs)], self.t)
        self.t += 1
        return y.copy()

    def state(self) -> dict:
        """The state as the step takes it next: {"t": int32, ring name: float32 array}."""
        return {"t": np.array(self.t, np.int32), **self._engine.read()}

    def at_steps(self, arrays: list, steps: int, skip: int | None = None):
        """Each input's value at each of the next `steps` steps, from arrays as the practice model takes them
        (a sequence input's covering those steps; a hop input's frames and a global input's vector covering
        the sequence from its step 0): a generator of lists."""
        start = self.t - self.origin
        for k in range(steps):
            values = []
            for index, (spec, value) in enumerate(zip(self.inputs, arrays)):
                if index == skip:
                    values.append(None)
                elif spec["global"]:
                    values.append(value)
                elif spec["hop"]:
                    values.append(value[:, min((start + k + 1) // spec["hop"], value.shape[1] - 1)])
                else:
                    values.append(value[:, k])
            yield values

    def run(self, arrays: list, progress=None) -> np.ndarray:
        """Every input as the practice model takes it (a list in spec order) -> (batch, T, units): one step
        per time step of the sequence inputs, the state carried on. `progress(n)` is told every 256 steps."""
        steps = next(a.shape[1] for a, i in zip(arrays, self.inputs) if not (i["hop"] or i["global"]))
        arrays = [np.asarray(a, i["dtype"]) for a, i in zip(arrays, self.inputs)]
        out = np.zeros((self.batch_size, steps, self.units), np.float32)
        engine = self._engine
        for k, values in enumerate(self.at_steps(arrays, steps)):
            out[:, k] = engine.step(values, self.t)  # the runtime's own buffer, copied into the row
            self.t += 1
            if progress and (k + 1) % 256 == 0:
                progress(256)
        if progress and steps % 256:
            progress(steps % 256)
        return out

    # ---- generation ----

    def generate(self, steps: int, seed: int = 0, prime: np.ndarray | None = None, conditions: list | None = None,
                 temperature: float = 1.0, progress=None) -> np.ndarray:
        """`causalc generate`'s samples, from the current state: `prime` (batch, P, C) samples or (batch, P)
        levels is fed but for its last step, the first value fed back (default: silence); `conditions`, every
        input but the signal as the practice model takes it (list in spec order, None at the signal). Stream b
        draws from numpy's PCG64(seed + b); the same seed gives the same samples as `generate`."""
        feedback = self.manifest["feedback"]
        if feedback is None:
            raise BadValue("the step's output cannot be fed back (a classifier or detector): feed it with --input")
        kind, levels = feedback["kind"], feedback["levels"]
        signal = self.inputs[self.signal]
        given = list(conditions) if conditions is not None else [None] * len(self.inputs)
        if prime is not None and prime.shape[1] > 1:
            fed = [prime[:, :-1] if k == self.signal else v for k, v in enumerate(given)]
            self.run(fed)
        first = prime[:, -1] if prime is not None else None
        if first is None:
            first = (np.full((self.batch_size,), signal["categories"] // 2, np.int32) if signal["categories"]
                     else np.zeros((self.batch_size, signal["shape"][1]), np.float32))
        draws = [np.random.Generator(np.random.PCG64(seed + b)) for b in range(self.batch_size)]
        x, engine, log = first, self._engine, feedback["log_probabilities"]
        out = np.zeros((self.batch_size, steps) + (() if kind in ("one-hot", "level") else (signal["shape"][1],)),
                       np.int32 if kind in ("one-hot", "level") else np.float32)
        table = decode_table(levels - 1) if kind == "mu-law" else None
        eye = np.eye(signal["shape"][1], dtype=np.float32) if kind == "one-hot" else None
        uniforms = None
        with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf: a level never drawn
            for k, values in enumerate(self.at_steps(given, steps, skip=self.signal)):
                if k % CHUNK == 0:  # as generate draws them: a chunk of float32 uniforms per stream
                    n = min(CHUNK, steps - k)
                    if kind != "regression":
                        uniforms = np.stack([draw.random(n, dtype=np.float32) for draw in draws], axis=1)
                    if k and not np.all(np.isfinite(out[:, k - CHUNK:k])):
                        break
                values[self.signal] = x
                y = engine.step(values, self.t)
                self.t += 1
                if kind == "regression":
                    x = out[:, k] = y.copy()
                else:
                    level = sample_logits(y if log else np.log(y), uniforms[k % CHUNK], temperature)
                    if kind == "mu-law":
                        x = out[:, k] = table[level][:, None]
                    else:
                        out[:, k] = x = level
                        if kind == "one-hot":
                            x = eye[level]
                if progress and (k + 1) % 256 == 0:
                    progress(256)
        finite = np.isfinite(out.reshape(self.batch_size, steps, -1)).all(axis=(0, 2))
        if not finite.all():
            raise BadValue(f"the model produced NaN or infinity at generated step {int(np.argmin(finite)):,}; "
                           "generation stopped")
        if progress and steps % 256:
            progress(steps % 256)
        return out


def _log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


def sample_logits(logits: np.ndarray, u: np.ndarray, temperature: float) -> np.ndarray:
    """Inverse-CDF sampling of one level per row of (batch, levels) log-probabilities with one uniform u in
    [0, 1) per row, as `causalc generate` samples (float32): the first level whose cumulative weight passes u
    of the total, weights exp(logits / T) with the largest subtracted."""
    logits = np.asarray(logits, np.float32)
    if temperature != 1.0:
        logits = logits / np.float32(temperature)
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cdf = np.cumsum(weights, axis=-1, dtype=np.float32)
    targets = u * cdf[:, -1]
    # the number of cumulative weights <= u * total; the cdf does not decrease, so a binary search counts them
    levels = [np.searchsorted(row, target, side="right") for row, target in zip(cdf, targets)]
    return np.minimum(np.array(levels, np.int32), logits.shape[-1] - 1)


def decode_table(mu: int) -> np.ndarray:
    """The sample of each mu-law level 0..mu (float32 from float64), the table generation decodes with
    (`convert.runtime.mulaw.decode_table`, written out here so that this module needs only NumPy)."""
    y = 2.0 * np.arange(mu + 1, dtype=np.float64) / mu - 1.0
    return np.clip(np.sign(y) * ((1.0 + mu) ** np.abs(y) - 1.0) / mu, -1.0, 1.0).astype(np.float32)


class _Onnx:
    """ONNX Runtime with every input and output bound to NumPy arrays it shares: the rings are written in place."""

    def __init__(self, source, manifest: dict, threads: int | None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeMissing("running an ONNX step needs ONNX Runtime: pip install onnxruntime") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.binding = self.session.io_binding()
        self.arrays = {i["name"]: np.zeros(i["shape"], i["dtype"]) for i in manifest["inputs"]}
        self.outputs = {o["name"]: np.zeros(o["shape"], o["dtype"]) for o in manifest["outputs"]}
        for name, array in self.arrays.items():
            self.binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array))
        for name, array in self.outputs.items():
            self.binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(array))
        self.inputs = [self.arrays[i["name"]] for i in manifest["inputs"] if "input" in i]
        self.t, self.y = self.arrays["t"], self.outputs["y"]
        self.names = [s["name"] for s in manifest["state"] if "column" in s]
        # each ring as its rows (views): writing a row through its view is the cheapest NumPy write
        self.rings = [(list(self.arrays[s["name"]]), self.outputs[s["column"]], s["length"]) for s in manifest["state"]
                      if "column" in s]

    def load(self, rings: dict) -> None:
        for name, value in rings.items():
            self.arrays[name][...] = value

    def read(self) -> dict:
        return {name: self.arrays[name].copy() for name in self.names}

    def step(self, xs: list, t: int) -> np.ndarray:
        for array, x in zip(self.inputs, xs):
            array[...] = x
        self.t[...] = t
        self.session.run_with_iobinding(self.binding)
        for rows, column, length in self.rings:
            rows[t % length][...] = column
        return self.y


def _interpreter(source, threads: int | None):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise RuntimeMissing("running a .tflite step needs LiteRT: pip install ai-edge-litert") from None
    if isinstance(source, bytes):
        return Interpreter(model_content=source, num_threads=threads)
    return Interpreter(model_path=source, num_threads=threads)


class _Lite:
    """LiteRT's interpreter with the rings kept in its input tensors, each column written in place."""

    def __init__(self, source, manifest: dict, threads: int | None):
        with quiet_stderr():  # applying the default delegate, LiteRT says so on fd 2 ("INFO: Created TensorFlow
            self.interpreter = _interpreter(source, threads)  # Lite XNNPACK delegate for CPU."), at the first
            self.interpreter.allocate_tensors()  # allocation or invoke: both are made here (the state is in the
            self.interpreter.invoke()  # inputs, which an invoke leaves as they are)
        runner = self.interpreter.get_signature_runner()
        ins, outs = runner.get_input_details(), runner.get_output_details()
        del runner
        self.index = {name: details["index"] for name, details in ins.items()}
        self.out = {name: details["index"] for name, details in outs.items()}
        self.inputs = [self.index[i["name"]] for i in manifest["inputs"] if "input" in i]
        self.names = [s["name"] for s in manifest["state"] if "column" in s]
        self.rings = [(self.index[s["name"]], self.out[s["column"]], s["length"]) for s in manifest["state"]
                      if "column" in s]

    def load(self, rings: dict) -> None:
        for name, value in rings.items():
            self.interpreter.tensor(self.index[name])()[...] = value

    def read(self) -> dict:
        return {name: self.interpreter.tensor(self.index[name])().copy() for name in self.names}

    def step(self, xs: list, t: int) -> np.ndarray:
        tensor = self.interpreter.tensor
        for index, x in zip(self.inputs, xs):
            tensor(index)()[...] = x
        self.interpreter.set_tensor(self.index["t"], np.array(t, np.int32))  # a scalar has no view
        self.interpreter.invoke()
        for index, column, length in self.rings:
            tensor(index)()[t % length] = tensor(column)()
        return self.interpreter.get_tensor(self.out["y"])
