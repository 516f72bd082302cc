"""`causalc train`: from a spec and signal files to a trained practice model, on one process or several
workers (convert.runtime.training)."""

from __future__ import annotations

import json
import os
import re
import sys
import time

import click

from convert.cli.common import WARMUP, _analysis_or_exit, _keras_tools, _quiet_stderr, cannot_write

ENDPOINT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def _cluster(cluster: str | None, index: int | None) -> tuple[list[str], int]:
    """The workers' host:port list and this worker's index: from the options, or from TF_CONFIG."""
    if cluster is None and index is not None:
        raise click.UsageError("--worker-index needs --cluster HOST:PORT,HOST:PORT,...")
    if cluster is None:
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            return [], 0
        try:
            config = json.loads(raw)
            return list(config["cluster"]["worker"]), int(config["task"]["index"])
        except (ValueError, KeyError, TypeError) as error:
            raise click.UsageError(f"TF_CONFIG is not a cluster of workers: {error}") from None
    hosts = [h.strip() for h in cluster.split(",") if h.strip()]
    bad = [h for h in hosts if not ENDPOINT.match(h)]
    if bad or not hosts:
        raise click.BadParameter(f"expected HOST:PORT,HOST:PORT,...; received {cluster!r}", param_hint="--cluster")
    if index is None or not 0 <= index < len(hosts):
        raise click.BadParameter(f"give this worker's index, 0 to {len(hosts) - 1}", param_hint="--worker-index")
    return hosts, index


@click.command(name="train")
@click.argument("spec", type=click.Path())
@click.argument("data", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="MODEL.keras to write.")
@click.option("--steps", default=1000, show_default=True, type=click.IntRange(1), help="Optimisation steps.")
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1),
              help="Crops per global batch (split among the workers).")
@click.option("--length", type=click.IntRange(1), default=None,
              help="Steps per crop; default 4 x the window. The first W-1 of each are left out of the loss.")
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Adam's learning rate.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Seeds the weights and the batches.")
@click.option("--validation", multiple=True, type=click.Path(), help="A file whose loss is reported (repeatable).")
@click.option("--checkpoint-every", default=100, show_default=True, type=click.IntRange(1),
              help="Steps between checkpoints (MODEL.keras.checkpoint.npz, written atomically).")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint, exactly as if never interrupted.")
@click.option("--cluster", default=None, metavar="HOST:PORT,...", help="The workers (the same on every worker).")
@click.option("--worker-index", type=click.IntRange(0), default=None, help="This worker's place in --cluster.")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds to wait for the other workers before giving up.")
@click.option("--log", type=click.Path(dir_okay=False), default=None,
              help="Append one JSON line per step (step, loss, predictions/s; validation loss at checkpoints).")
@WARMUP
def train(spec, data, out, steps, batch_size, length, lr, seed, validation, checkpoint_every, resume, cluster,
          worker_index, timeout, log, warmup) -> None:
    """Train the practice model of SPEC on DATA files: .npy or .wav signals (a spec of several inputs: .npz
    files with one array per input). The target follows from the spec's output: the next sample's mu-law
    level, the next level, or the next sample."""
    if not out.lower().endswith(".keras"):
        raise click.UsageError(f"the output must end in .keras; received {out}")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise click.UsageError(f"-o: {folder} is not a folder causalc can write into")
    hosts, rank = _cluster(cluster, worker_index)
    workers = max(len(hosts), 1)
    if batch_size % workers:
        raise click.BadParameter(f"{batch_size} crops do not split among {workers} workers", param_hint="--batch-size")
    analysis = _analysis_or_exit(spec)
    length = length or 4 * analysis.window
    if length < analysis.window:
        raise click.BadParameter(f"{length} is shorter than the window ({analysis.window}): no step would be "
                                 "predicted from a whole window", param_hint="--length")
    from convert.runtime import training
    from convert.runtime.feedback import output_kind

    try:
        output_kind(analysis)
    except ValueError as error:
        raise click.ClickException(f"{error}; train trains what generate can feed back") from None
    try:
        train_data = training.Data(analysis, list(data), length)
        checks = [training.Data(analysis, [path], length) for path in validation]
    except training.TrainingError as error:
        raise click.ClickException(f"{error}; nothing written") from None
    watchdog = _Watchdog(timeout, workers) if hosts else None  # until the first step's sum has come back
    strategy = _strategy(hosts, rank, timeout) if hosts else None
    api, writer = _keras_tools(tensorflow=True)
    training.set_seed(seed)
    model = api.practice_model(analysis, warmup)
    trainer = training.Trainer(model, train_data, batch_size, lr, seed, strategy, workers, rank)
    ident = training.identity(analysis, {"length": length, "batch": batch_size, "lr": lr, "seed": seed,
                                         "warmup": warmup, "data": [s[train_data.signal].shape[0]
                                                                    for s in train_data.sequences]})
    checkpoint = out + ".checkpoint.npz"
    first, losses = 0, []
    if os.path.exists(checkpoint) and not resume and rank == 0:
        raise click.ClickException(f"{checkpoint} holds an earlier run: --resume to continue it, or delete it")
    if resume and os.path.exists(checkpoint):
        try:
            first, values, losses = training.load_checkpoint(checkpoint, ident)
            trainer.restore(values)
        except training.TrainingError as error:
            raise click.ClickException(str(error)) from None
    if not trainer.agree(first):
        raise click.ClickException(f"the workers would resume from different steps (this one from {first}): with "
                                   "--resume, every worker reads the checkpoint worker 0 writes, so give -o a path "
                                   "all workers share; nothing written")
    try:
        _loop(trainer, first, steps, losses, checks, checkpoint_every, checkpoint, ident, log, rank, watchdog)
    except training.worker_failure() as error:  # a worker gone mid-run: its collective times out or fails
        raise click.ClickException(f"training stopped at a step the workers did not finish together "
                                   f"({type(error).__name__}: {error.message.splitlines()[0]}); the last "
                                   f"checkpoint is {checkpoint if os.path.exists(checkpoint) else 'none'}; "
                                   "nothing else written") from None
    if rank == 0:
        try:
            with writer.atomic_files(folder) as new:
                model.save(new(out))
        except OSError as error:
            raise cannot_write(error, out) from None
        if os.path.exists(checkpoint):
            os.remove(checkpoint)
        click.echo(f"wrote {out}: {steps:,} steps, loss {losses[-1]:.4f}" if losses else f"wrote {out}")


def _loop(trainer, first, steps, losses, checks, every, checkpoint, ident, log, rank, watchdog) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from convert.runtime import training

    started, done = time.perf_counter(), 0
    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  transient=True, disable=rank != 0) as progress:
        task = progress.add_task("", total=steps, completed=first)
        for step in range(first, steps):
            loss = trainer.step(step)
            if watchdog is not None:
                watchdog.cancel()
                watchdog = None
            losses.append(loss)
            done += 1
            elapsed = time.perf_counter() - started
            rate = training.predictions_per_second(trainer, elapsed, done)
            record = {"step": step, "loss": loss, "predictions_per_second": rate, "seconds": elapsed}
            if (step + 1) % every == 0 or step + 1 == steps:
                if checks:
                    record["validation_loss"] = sum(trainer.validation_loss(c) for c in checks) / len(checks)
                if rank == 0 and step + 1 < steps:
                    training.save_checkpoint(checkpoint, trainer, step + 1, ident, losses)
            if rank == 0 and log:
                with open(log, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
            valid = f", validation {record['validation_loss']:.4f}" if "validation_loss" in record else ""
            progress.update(task, advance=1, description=f"loss {loss:.4f}{valid}, {rate:,.0f} predictions/s")


def _strategy(hosts: list[str], rank: int, timeout: float):
    from convert.runtime.training import multi_worker_strategy

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _quiet_stderr():
        return multi_worker_strategy(hosts, rank, timeout)


WATCH = """import os, select, signal, sys
parent, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
ready, _, _ = select.select([sys.stdin], [], [], timeout)
if not ready:
    sys.stderr.write(message + chr(10))
    sys.stderr.flush()
    os.kill(parent, signal.SIGKILL)
"""


class _Watchdog:
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
