"""A whole training run, as `causalc train` makes one and Python callers can (`convert.runtime.training`
holds the data, the step and the checkpoints): the data read, the model built, resumed from its checkpoint,
trained with checkpoints and a log, then saved atomically; several workers met through a watchdog that
ends a run whose workers never meet."""

from __future__ import annotations

import json
import math
import os
import sys
import time

from convert.core.errors import BadValue
from convert.core.quiet import quiet_stderr
from convert.frontend.source import regular_or_absent
from convert.runtime import training
from convert.runtime.feedback import output_kind


class Run:
    """Training of the practice model of `analysis` on the files `data`, to be saved at `out`."""

    def __init__(self, analysis, data: list[str], out: str, steps: int, batch_size: int, length: int, lr: float,
                 seed: int, validation: tuple[str, ...] = (), checkpoint_every: int = 100, resume: bool = False,
                 hosts: tuple[str, ...] = (), rank: int = 0, timeout: float = 120.0, log: str | None = None,
                 warmup: str = "causal"):
        try:
            output_kind(analysis)
        except BadValue as error:
            raise error.with_context(suffix="; train trains what generate can feed back")
        try:
            self.data = training.Data(analysis, list(data), length)
            self.checks = [training.Data(analysis, [path], length) for path in validation]
        except training.TrainingError as error:
            raise error.with_context(suffix="; nothing written")
        self.out, self.steps, self.every, self.rank, self.log, self.lr = out, steps, checkpoint_every, rank, log, lr
        self.workers = max(len(hosts), 1)
        training.check_memory(analysis, batch_size // self.workers, length)
        self.watchdog = Watchdog(timeout, self.workers) if hosts else None  # until the first step's sum is back
        strategy = None
        if hosts:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            with quiet_stderr():
                strategy = training.multi_worker_strategy(list(hosts), rank, timeout)
        from convert.runtime import api

        training.set_seed(seed)
        self.model = api.practice_model(analysis, warmup)
        self.trainer = training.Trainer(self.model, self.data, batch_size, lr, seed, strategy, self.workers, rank)
        self.ident = training.identity(analysis, {"length": length, "batch": batch_size, "lr": lr, "seed": seed,
                                                  "warmup": warmup, "data": [s[self.data.signal].shape[0]
                                                                             for s in self.data.sequences]})
        self.checkpoint = out + ".checkpoint.npz"
        for path, what in ((log, "--log"), (self.checkpoint, "the checkpoint")):
            if path is not None:
                regular_or_absent(path, what)
        self.first, self.losses = 0, []
        if os.path.exists(self.checkpoint) and not resume and rank == 0:
            raise training.TrainingError(f"{self.checkpoint} holds an earlier run: --resume to continue it, or "
                                         "delete it")
        if resume and os.path.exists(self.checkpoint):
            self.first, values, self.losses = training.load_checkpoint(self.checkpoint, self.ident)
            if self.first >= steps:
                raise training.TrainingError(f"{self.checkpoint} was written after step {self.first:,}; --steps "
                                             f"{steps:,} ends before it: give --steps more than {self.first:,}")
            self.trainer.restore(values, self.checkpoint)
        if not self.trainer.agree(self.first):
            raise training.TrainingError(f"the workers would resume from different steps (this one from "
                                         f"{self.first}): with --resume, every worker reads the checkpoint worker 0 "
                                         "writes, so give -o a path all workers share; nothing written")

    def train(self, on_step=None) -> list[float]:
        """Steps `first` to `steps`: a checkpoint every `checkpoint_every` steps (worker 0), a JSON line per
        step in the log; `on_step(record)` is told of every step. Returns the losses."""
        try:
            self._loop(on_step)
        except training.worker_failure() as error:  # a worker gone mid-run: its collective times out or fails
            raise training.TrainingError(
                f"training stopped at a step the workers did not finish together ({type(error).__name__}: "
                f"{error.message.splitlines()[0]}); {self._kept()}") from None
        return self.losses

    def _kept(self) -> str:
        """What a failed run leaves: its last checkpoint, if any, and nothing else."""
        if os.path.exists(self.checkpoint):
            return f"the last checkpoint is {self.checkpoint} (--resume continues from it); nothing else written"
        return "no checkpoint was written; nothing written"

    def _loop(self, on_step) -> None:
        trainer, started, done = self.trainer, time.perf_counter(), 0
        for step in range(self.first, self.steps):
            loss = trainer.step(step)
            if not math.isfinite(loss) or ((step + 1) % self.every == 0 or step + 1 == self.steps) and not trainer.finite():
                raise training.TrainingError(
                    f"training diverged at step {step:,}: the {'loss is ' + str(loss) if not math.isfinite(loss) else 'weights hold NaN or infinity'}"
                    f" (try a smaller --lr than {self.lr:g}); {self._kept()}")
            if self.watchdog is not None:
                self.watchdog.cancel()
                self.watchdog = None
            self.losses.append(loss)
            done += 1
            elapsed = time.perf_counter() - started
            rate = training.predictions_per_second(trainer, elapsed, done)
            record = {"step": step, "loss": loss, "predictions_per_second": rate, "seconds": elapsed}
            if (step + 1) % self.every == 0 or step + 1 == self.steps:
                if self.checks:
                    record["validation_loss"] = sum(trainer.validation_loss(c) for c in self.checks) / len(self.checks)
                if self.rank == 0 and step + 1 < self.steps:
                    try:
                        training.save_checkpoint(self.checkpoint, trainer, step + 1, self.ident, self.losses)
                    except OSError as error:
                        raise training.TrainingError(f"cannot write the checkpoint {self.checkpoint} after step "
                                                     f"{step:,}: {error.strerror or error}; {self._kept()}") from None
            if self.rank == 0 and self.log:
                try:
                    with open(self.log, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")
                except OSError as error:
                    raise training.TrainingError(f"cannot write the log {self.log} at step {step:,}: "
                                                 f"{error.strerror or error}; {self._kept()}") from None
            if on_step is not None:
                on_step(record)

    def save(self) -> bool:
        """The trained model at `out` (worker 0 only), atomically, and its checkpoint removed; True if saved."""
        if self.rank != 0:
            return False
        from convert.backends.write import atomic_files

        with atomic_files(os.path.dirname(os.path.abspath(self.out))) as new:
            self.model.save(new(self.out))
        if os.path.exists(self.checkpoint):
            os.remove(self.checkpoint)
        return True


WATCH = """import os, select, signal, sys
parent, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
ready, _, _ = select.select([sys.stdin], [], [], timeout)
if not ready:
    sys.stderr.write(message + chr(10))
    sys.stderr.flush()
    os.kill(parent, signal.SIGKILL)
"""


class Watchdog:
    """Ends this process with a clear message when the workers have not all met within `timeout` seconds.
    A separate process keeps the time: while TensorFlow waits for the cluster it holds the interpreter, so
    no thread of this one would run. `cancel` (or this process ending) releases it."""

    def __init__(self, timeout: float, workers: int):
        import subprocess

        message = (f"Error: the {workers} workers did not all meet within {timeout:g} s (--timeout): check that "
                   "every worker runs with the same --cluster and its own --worker-index, and that the ports are "
                   "reachable; nothing written")
        self.process = subprocess.Popen([sys.executable, "-c", WATCH, str(os.getpid()), str(timeout), message],
                                        stdin=subprocess.PIPE)

    def cancel(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.write(b"met\n")
            self.process.stdin.close()
            self.process.stdin = None
            self.process.wait()
