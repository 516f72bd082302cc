"""`causalc train`: the practice model trained on signal files, on one process or several workers.

Every global batch is drawn from (seed, step) alone: crops of `length + 1` steps at random places of random
files, so a resumed run and a run on several workers see exactly the batches of an uninterrupted run on
one process. With `n` workers, worker `i` computes the loss and gradients of its slice of the global batch
(`batch / n` crops); TensorFlow's MultiWorkerMirroredStrategy sums them across workers (its collective
all-reduce, driven by this custom step: Keras 3's `fit` does not support that strategy), and every worker
applies the same summed gradient, so the weights stay identical. The loss is the mean over the global
batch's predicted steps; the first W-1 steps of every crop (before a whole window) are left out.

Targets follow from the spec's output (`convert.runtime.generation.output_kind`): the next sample's
mu-law level for a softmax over levels and a one-channel signal, the next level for a categorical or
one-hot signal, the next sample for a regression output.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile

import numpy as np

from convert.core.errors import BadValue, CausalcError
from convert.runtime import conditioning
from convert.runtime.feedback import output_kind
from convert.runtime.mulaw import mu_law_encode


class TrainingError(BadValue):
    """Bad training data or options: the message says which file or option and what is expected."""


class Data:
    """The training (or validation) sequences: for a spec of one input, its signal; for several, one
    `.npz` per sequence with an array per input name (frames of a hop input from the sequence's first step,
    a global input's vector)."""

    def __init__(self, analysis, paths: list[str], length: int):
        from convert.runtime.audio import read_samples

        self.nodes, self.window, self.length = analysis.spec.inputs, analysis.window, length
        self.signal = self.nodes.index(analysis.spec.signal)
        self.kind = output_kind(analysis)
        self.log_probabilities = analysis.spec.layer(analysis.spec.output).config.get("activation") == "log_softmax"
        self.units = analysis.tensors[analysis.spec.output].channels
        self.align = math.lcm(*[node.hop for node in self.nodes if node.hop] or [1])  # crops start on frames
        self.sequences = []
        for path in paths:
            if len(self.nodes) == 1:
                try:
                    value = read_samples(path)
                except (OSError, ValueError) as error:
                    raise TrainingError(f"cannot read {path}: {error}") from None
                node = self.nodes[0]
                value = value if node.categories or value.ndim == 2 else value[:, None]
                arrays = [value]
            else:
                arrays = _npz(path, self.nodes)
            checked = []
            for node, value in zip(self.nodes, arrays):
                try:
                    checked.append(conditioning.check(node, np.asarray(value)[None], 1, f"{path}: `{node.name}`")[0])
                except conditioning.ConditionError as error:
                    raise TrainingError(str(error)) from None
            steps = checked[self.signal].shape[0]
            if steps < length + 1:
                raise TrainingError(f"{path}: the signal has {steps:,} steps; crops of --length {length:,} need "
                                    f"{length + 1:,} (the window is {self.window:,})")
            for node, value in zip(self.nodes, checked):
                if node.hop:
                    try:
                        conditioning.check_frames(node, value[None], steps - 1, f"{path}: `{node.name}`")
                    except conditioning.ConditionError as error:
                        raise TrainingError(str(error)) from None
                elif node.sequence and value.shape[0] != steps:
                    raise TrainingError(f"{path}: `{node.name}` has {value.shape[0]:,} steps; the signal has {steps:,}")
            self.sequences.append(checked)
        if not self.sequences:
            raise TrainingError("no training data")

    def crops(self, seed: int, step: int, count: int) -> list[tuple[int, int]]:
        """The global batch of step `step`: (sequence, first step) pairs, from (seed, step) alone."""
        rng = np.random.default_rng([seed, step])
        out = []
        for _ in range(count):
            index = int(rng.integers(len(self.sequences)))
            steps = self.sequences[index][self.signal].shape[0]
            start = int(rng.integers((steps - self.length - 1) // self.align + 1)) * self.align
            out.append((index, start))
        return out

    def batch(self, crops) -> tuple[list, np.ndarray, np.ndarray]:
        """(inputs as the practice model takes them, targets, loss weights) of some crops."""
        inputs = [[] for _ in self.nodes]
        targets = []
        for index, start in crops:
            sequence = self.sequences[index]
            for i, (node, value) in enumerate(zip(self.nodes, sequence)):
                if node.is_global:
                    inputs[i].append(value)
                elif node.hop:
                    first = start // node.hop
                    inputs[i].append(value[first:first + self.length // node.hop + 1])  # through the target's frame
                else:
                    inputs[i].append(value[start:start + self.length])
            targets.append(self._target(sequence[self.signal][start + 1:start + self.length + 1]))
        inputs = [np.stack(parts) for parts in inputs]
        weights = np.ones((len(crops), self.length), np.float32)
        weights[:, :self.window - 1] = 0.0
        return inputs, np.stack(targets), weights

    def _target(self, following: np.ndarray) -> np.ndarray:
        if self.kind == "mu-law":
            return mu_law_encode(following[:, 0], self.units - 1).astype(np.int32)
        if self.kind == "one-hot":
            return np.argmax(following, axis=-1).astype(np.int32)
        return following  # levels (categorical signal) or the next sample (regression)


def _npz(path: str, nodes) -> list:
    from convert.runtime.recordings import RecordingError, read_npz

    try:
        return read_npz(path, nodes)
    except RecordingError as error:
        raise TrainingError(str(error)) from None


def check_memory(analysis, crops: int, length: int) -> None:
    """Refuse (TooLarge) a batch whose training step would pass causalc's memory limit: every layer's values
    at every step of every crop, kept for the gradients and matched by the gradients' own, and the inputs."""
    from convert.analysis.limits import peak_values
    from convert.core import limits

    values = peak_values(analysis)
    inputs = sum(node.channels for node in analysis.spec.inputs)
    limits.check_memory(f"a training step on {crops:,} crop(s) of {length:,} steps ({values:,} values per step)",
                        4 * crops * length * (2 * values + inputs), "use a smaller --batch-size or --length")


def identity(analysis, options: dict) -> str:
    """What a checkpoint belongs to: the network and every option that changes the run's numbers."""
    from convert.frontend.writer import canonical_sha256

    text = json.dumps({"spec": canonical_sha256(analysis), **options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class Trainer:
    """The model, its optimizer and the step: local loss and gradients, summed across workers when a
    strategy is given, then applied the same way everywhere."""

    def __init__(self, model, data: Data, batch: int, lr: float, seed: int, strategy=None, workers: int = 1,
                 rank: int = 0):
        import keras
        import tensorflow as tf

        self.tf, self.model, self.data, self.batch, self.seed = tf, model, data, batch, seed
        self.strategy, self.workers, self.rank = strategy, workers, rank
        self.optimizer = keras.optimizers.Adam(lr)
        self.optimizer.build(model.trainable_variables)
        self.count = float(batch * (data.length - data.window + 1))  # predicted steps in a global batch
        regression, log = data.kind == "regression", data.log_probabilities

        def local_sum(inputs, targets, weights):
            out = model(inputs if len(inputs) > 1 else inputs[0], training=True)
            if regression:
                per_step = tf.reduce_mean(tf.square(out - targets), axis=-1)
            else:
                logp = out if log else tf.math.log(tf.clip_by_value(out, 1e-7, 1.0))
                per_step = -tf.gather(logp, targets, batch_dims=2)
            return tf.reduce_sum(per_step * weights)

        def gradients(inputs, targets, weights):
            with tf.GradientTape() as tape:
                total = local_sum(inputs, targets, weights)
                scaled = total / self.count
            return tape.gradient(scaled, model.trainable_variables), total

        self._local_sum = tf.function(local_sum)
        if strategy is None:
            self._gradients = tf.function(gradients)
        else:
            def summed(inputs, targets, weights):  # in the worker's replica: its gradients, then the sum of all
                grads, total = gradients(inputs, targets, weights)
                return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, [*grads, total])

            def distributed(inputs, targets, weights):
                values = strategy.run(summed, args=(inputs, targets, weights))
                values = [strategy.experimental_local_results(v)[0] for v in values]
                return values[:-1], values[-1]

            self._gradients = tf.function(distributed)

    def step(self, step: int) -> float:
        """One optimisation step on the global batch of `step`; returns the global batch's mean loss."""
        tf = self.tf
        crops = self.data.crops(self.seed, step, self.batch)
        share = self.batch // self.workers
        inputs, targets, weights = self.data.batch(crops[self.rank * share:(self.rank + 1) * share])
        grads, total = self._gradients([tf.constant(x) for x in inputs], tf.constant(targets), tf.constant(weights))
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return float(total) / self.count

    def agree(self, value: int) -> bool:
        """Whether every worker holds the same `value` (the step it resumes from): one all-reduce of
        (v, v**2, 1), equal everywhere iff n * sum(v**2) == sum(v)**2."""
        if self.strategy is None:
            return True
        tf = self.tf

        def gather():  # the tensor made in the replica, as the strategy's all-reduce wants
            mine = tf.constant([float(value), float(value) ** 2, 1.0], tf.float64)
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, mine)

        summed = tf.function(lambda: self.strategy.run(gather))()
        total, squares, count = self.strategy.experimental_local_results(summed)[0].numpy()
        return count * squares == total * total

    def validation_loss(self, data: Data, crops: int = 16) -> float:
        """The mean loss over fixed crops of the validation data (the same crops at every evaluation)."""
        picked = data.crops(2**31 - 1, 0, crops)
        inputs, targets, weights = data.batch(picked)
        tf = self.tf
        total = self._local_sum([tf.constant(x) for x in inputs], tf.constant(targets), tf.constant(weights))
        return float(total) / float(weights.sum())

    # ---- checkpoints ----

    def state(self) -> list[np.ndarray]:
        return [np.asarray(v) for v in self.model.weights] + [np.asarray(v) for v in self.optimizer.variables]

    def finite(self) -> bool:
        """Whether every weight is finite (a diverged step leaves NaN or infinity)."""
        return all(bool(np.isfinite(np.asarray(v)).all()) for v in self.model.weights)

    def restore(self, values: list[np.ndarray], path: str = "the checkpoint") -> None:
        targets = list(self.model.weights) + list(self.optimizer.variables)
        if len(values) != len(targets):
            raise TrainingError(f"{path} holds {len(values)} arrays; this model and its optimizer have "
                                f"{len(targets)}: it is not a checkpoint of this model")
        for i, (variable, value) in enumerate(zip(targets, values)):
            if tuple(value.shape) != tuple(variable.shape) or not np.issubdtype(value.dtype, np.number):
                raise TrainingError(f"{path}: array {i} is {value.dtype} {tuple(value.shape)}; `{variable.path}` "
                                    f"is {tuple(variable.shape)}: it is not a checkpoint of this model")
        for variable, value in zip(targets, values):
            variable.assign(value)


def save_checkpoint(path: str, trainer: Trainer, step: int, ident: str, losses: list) -> None:
    """Atomically: written beside, then renamed over the old one."""
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".causalc-{os.path.basename(path)}.{os.getpid()}.tmp")
    arrays = {f"v{i}": value for i, value in enumerate(trainer.state())}
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, step=np.array(step), identity=np.array(ident), losses=np.array(losses, np.float64),
                     **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:  # a full disk or a signal: the old checkpoint stays, no partial file beside it
        if os.path.lexists(temporary):
            os.remove(temporary)


def load_checkpoint(path: str, ident: str) -> tuple[int, list[np.ndarray], list[float]]:
    import io

    from convert.core import limits
    from convert.frontend.source import read_bytes

    try:
        data = read_bytes(path, limits.MAX_MEMORY)  # a regular file only, bounded
        if len(data) > limits.MAX_MEMORY:
            limits.check_memory(f"the checkpoint {path}", os.path.getsize(path))
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            if str(archive["identity"]) != ident:
                raise TrainingError(f"{path} is a checkpoint of another run (another spec or other options): "
                                    "delete it, or resume with the options it was made with")
            count = len([k for k in archive.files if k.startswith("v")])
            step, losses = archive["step"], archive["losses"]
            if step.shape != () or not np.issubdtype(step.dtype, np.integer) or int(step) < 1:
                raise TrainingError(f"{path}: its step is {step.tolist()!r}; a checkpoint records a step of 1 or more")
            if losses.shape != (int(step),) or not np.isfinite(losses).all():
                raise TrainingError(f"{path}: its losses are not the {int(step):,} finite losses of its steps")
            values = [archive[f"v{i}"] for i in range(count)]
            bad = [i for i, value in enumerate(values) if value.dtype.kind not in "fiu" or not np.isfinite(value).all()]
            if bad:
                raise TrainingError(f"{path}: array {bad[0]} holds NaN, infinity or no numbers; resuming from it "
                                    "would train nothing: delete it, or resume from a good copy")
            return int(step), values, [float(x) for x in losses]
    except CausalcError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise TrainingError(f"cannot read the checkpoint {path}: {error}") from None


def multi_worker_strategy(hosts: list[str], rank: int, timeout: float):
    """TensorFlow's MultiWorkerMirroredStrategy over the workers; call it before any other TensorFlow op."""
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": rank}})
    import tensorflow as tf

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def set_seed(seed: int) -> None:
    """The same initial weights on every worker and in every resumed run. Seeds of 2**32 and above (the
    range `generate` and `run-step` take) are folded to the 32 bits NumPy's global seeding takes, by a hash."""
    import keras

    if seed >= 2**32:
        seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    keras.utils.set_random_seed(seed)


def worker_failure():
    """What a failed collective raises (a worker gone mid-run)."""
    import tensorflow as tf

    return tf.errors.OpError


def predictions_per_second(trainer: Trainer, seconds: float, steps: int) -> float:
    return steps * trainer.count / max(seconds, 1e-9)
