"""`causalc train`: from a spec and signal files to a trained practice model, on one process or several
workers (convert.runtime.training)."""

from __future__ import annotations

import json
import os
import re

import click

from convert.cli.common import WARMUP, _analysis_or_exit, failing, require_keras

ENDPOINT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def _cluster(cluster: str | None, index: int | None) -> tuple[list[str], int]:
    """The workers' host:port list and this worker's index: from the options, or from TF_CONFIG, checked
    alike before any worker waits for another."""
    if cluster is None and index is not None:
        raise click.UsageError("--worker-index needs --cluster HOST:PORT,HOST:PORT,...")
    if cluster is not None:
        hosts = [h.strip() for h in cluster.split(",") if h.strip()]
        _endpoints(hosts, cluster, "--cluster")
        if index is None or not 0 <= index < len(hosts):
            raise click.BadParameter(f"give this worker's index, 0 to {len(hosts) - 1}", param_hint="--worker-index")
        return hosts, index
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return [], 0
    try:
        config = json.loads(raw)
        hosts, task = config["cluster"]["worker"], config["task"]
        index, kind = task["index"], task.get("type", "worker")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise click.UsageError(f"TF_CONFIG is not a cluster of workers ({type(error).__name__}: {error}); expected "
                               '{"cluster": {"worker": ["HOST:PORT", ...]}, "task": {"type": "worker", "index": I}}') from None
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise click.UsageError(f"TF_CONFIG: cluster.worker must be a list of \"HOST:PORT\" strings; received {hosts!r:.200}")
    _endpoints(hosts, ", ".join(hosts), "TF_CONFIG")
    if kind != "worker":
        raise click.UsageError(f"TF_CONFIG: task.type is {kind!r:.100}; causalc trains with workers only (\"worker\")")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(hosts):
        raise click.UsageError(f"TF_CONFIG: task.index is {index!r:.100}; give this worker's index, 0 to {len(hosts) - 1}")
    return hosts, index


def _endpoints(hosts: list[str], given: str, where: str) -> None:
    """HOST:PORT each, ports 1 to 65535, no worker twice."""
    bad = [h for h in hosts if not ENDPOINT.match(h) or not 1 <= int(h.rsplit(":", 1)[1]) <= 65535]
    if bad or not hosts:
        raise click.BadParameter(f"expected HOST:PORT,HOST:PORT,... with ports 1 to 65535; received {given!r:.200}"
                                 + (f" ({bad[0]!r:.100} is not one)" if bad else ""), param_hint=where)
    twice = sorted({h for h in hosts if hosts.count(h) > 1})
    if twice:
        raise click.BadParameter(f"{twice[0]} is given twice: every worker needs its own HOST:PORT", param_hint=where)


@click.command(name="train")
@click.argument("spec", type=click.Path())
@click.argument("data", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="File to write: MODEL.keras (its checkpoint beside it).")
@click.option("--steps", default=1000, show_default=True, type=click.IntRange(1), help="Optimisation steps.")
@click.option("--batch-size", "--batch", "batch_size", default=16, show_default=True, type=click.IntRange(1),
              help="Crops per global batch (split among the workers).")
@click.option("--length", type=click.IntRange(1), default=None,
              help="Steps per crop; default 4 x the window. The first W-1 of each are left out of the loss.")
@click.option("--lr", default=1e-3, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Adam's learning rate.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**63 - 1),
              help="Seeds the weights and the batches (0 to 2**63 - 1, as generate and run-step).")
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
    require_keras(tensorflow=True, initialise=not hosts)  # a cluster is joined before TensorFlow starts
    from convert.cli.progress import Progress
    from convert.runtime.training_run import Run

    run = Run(analysis, list(data), out, steps, batch_size, length, lr, seed, validation, checkpoint_every, resume,
              tuple(hosts), rank, timeout, log, warmup)
    with Progress(steps, "training", done=run.first, shown=rank == 0) as progress:

        def shown(record: dict) -> None:
            valid = f", validation {record['validation_loss']:.4f}" if "validation_loss" in record else ""
            progress.advance(1, f"loss {record['loss']:.4f}{valid}, {record['predictions_per_second']:,.0f} predictions/s")
        losses = run.train(shown)
    with failing(writing=out):
        saved = run.save()
    if saved:
        click.echo(f"wrote {out}: {steps:,} steps, loss {losses[-1]:.4f}" if losses else f"wrote {out}")
