"""Progress of the long commands (train, generate, predict, run-step), one way for all: a bar on a
terminal (stderr, gone when done); elsewhere (CI logs, nohup, a pipe) a plain line every ten seconds, so a
log shows the run is alive without a bar's control characters or a blank line before the result."""

from __future__ import annotations

import sys
import time

import click

EVERY = 10.0  # seconds between the lines off a terminal


class Progress:
    """`with Progress(total, "training", "steps") as p: p.advance(n, "loss 0.31")`."""

    def __init__(self, total: int, what: str, unit: str = "steps", done: int = 0, shown: bool = True):
        self.total, self.what, self.unit, self.done, self.shown = total, what, unit, done, shown
        self.bar, self.note, self.said = None, "", time.perf_counter()

    def __enter__(self) -> Progress:
        if self.shown and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(TextColumn(self.what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                           TextColumn("{task.description}"), transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("", total=self.total, completed=self.done)
        return self

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.done += n
        self.note = note if note is not None else self.note
        if self.bar is not None:
            self.bar.update(self.task, advance=n, description=self.note)
        elif self.shown and time.perf_counter() - self.said >= EVERY and self.done < self.total:
            self.said = time.perf_counter()
            note = f", {self.note}" if self.note else ""
            click.echo(f"{self.what}: {self.done:,} of {self.total:,} {self.unit} "
                       f"({100 * self.done / max(self.total, 1):.0f}%){note}", err=True)

    def __exit__(self, *exc) -> bool:
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False
