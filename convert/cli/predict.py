"""`causalc predict`: the practice model's output at every step of long recordings (convert.runtime.predict),
written as it goes and committed when whole."""

from __future__ import annotations

import os
import time

import click

from convert.cli.common import WARMUP, _analysis_or_exit, failing, require_keras
from convert.cli.progress import Progress


def _shard(value: str | None) -> tuple[int, int]:
    if value is None:
        return 0, 1
    index, sep, count = value.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 0 <= int(index) < int(count):
        raise click.BadParameter(f"expected I/N with 0 <= I < N (e.g. 0/4, the first of four); received {value!r}",
                                 param_hint="--shard")
    return int(index), int(count)


@click.command()
@click.argument("spec", type=click.Path())
@click.argument("model", type=click.Path())
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(),
              help="File or folder to write: OUT.npy for one recording; a folder (one STEM.npy per recording) for several.")
@click.option("--chunk", default=None, type=click.IntRange(1, 2**27), metavar="STEPS",
              help="Steps computed per piece (default: as many as keep the activations near 2 GiB, at most 65,536); "
                   "memory grows with it, the result does not change.")
@click.option("--batch-size", "--batch", "batch_size", default=1, show_default=True, type=click.IntRange(1, 1024),
              help="Pieces of one recording computed together.")
@click.option("--shard", default=None, metavar="I/N",
              help="Take every N-th recording from the I-th (0-based): one job of N, e.g. a Slurm array task.")
@click.option("--channels", default=None, metavar="NAME,...", help="EDF/BDF channels to read, by name, in order.")
@WARMUP
def predict(spec: str, model: str, inputs: tuple[str, ...], out: str, chunk: int | None, batch_size: int,
            shard: str | None, channels: str | None, warmup: str) -> None:
    """Write the practice MODEL's prediction at every step of each recording INPUT (.npy, memory-mapped; .npz
    with one array per input; audio such as .wav or .flac; EDF/BDF): row t is the output for the window
    ending at step t (warm-up rows first), equal to one pass over the whole recording."""
    index, count = _shard(shard)
    files = list(inputs)[index::count]
    if not files:
        raise click.UsageError(f"--shard {shard}: no recording falls to this shard of {len(inputs)}")
    several = len(inputs) > 1 or count > 1
    if several:
        if os.path.exists(out) and not os.path.isdir(out):
            raise click.UsageError(f"-o: {out} is a file; several recordings are written into a folder")
        targets = [os.path.join(out, os.path.splitext(os.path.basename(path))[0] + ".npy") for path in files]
        if len(set(targets)) < len(targets):
            raise click.UsageError("recordings of one name would write one file: give them different names")
    else:
        if not out.endswith(".npy"):
            raise click.UsageError(f"the output of one recording must end in .npy; received {out}")
        targets = [out]
    folder = os.path.dirname(os.path.abspath(targets[0]))
    if not several and not os.path.isdir(folder):
        raise click.UsageError(f"-o: {folder} is not a folder")
    analysis = _analysis_or_exit(spec)
    from convert.runtime import recordings
    from convert.runtime.predict import steps_of

    names = tuple(name.strip() for name in channels.split(",") if name.strip()) if channels else None
    read = []
    for path in files:  # every recording checked before any work
        arrays = recordings.read(path, analysis, names)
        read.append((path, arrays, steps_of(analysis, arrays)))
    require_keras()
    from convert.runtime import api

    practice = api.load_fitting(model, analysis, warmup)
    units = analysis.tensors[analysis.spec.output].channels
    total = sum(steps for _, _, steps in read)
    started = time.perf_counter()
    with failing(writing=out), Progress(total, "predicting") as progress:
        _write(practice, analysis, read, targets, out if several else folder, units, chunk, batch_size, warmup,
               progress)
    seconds = time.perf_counter() - started
    for path, target in zip(files, targets):
        click.echo(f"wrote {target} ({path})")
    click.echo(f"{total:,} predictions in {seconds:.1f} s ({total / max(seconds, 1e-9):,.0f} predictions/s)")


def _write(practice, analysis, read, targets, folder, units, chunk, batch_size, warmup, progress) -> None:
    import numpy as np

    from convert.backends.write import atomic_files
    from convert.runtime.predict import chunks

    with atomic_files(folder) as new:  # every output, or none
        for (path, arrays, steps), target in zip(read, targets):
            with open(new(target), "wb") as handle:  # a .npy header, then the rows in order as they come
                np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                             "shape": (steps, units)})
                for _, piece in chunks(practice, analysis, arrays, chunk, warmup, batch_size):
                    handle.write(np.ascontiguousarray(piece, "<f4").tobytes())
                    progress.advance(len(piece))
