"""Where a thing stands in a spec file: a Span, and a YAML value with its marks (Node). Every room may
import these (the front end makes them, kinds read fields from them, diagnostics point at them)."""

from __future__ import annotations

from typing import Any, NamedTuple


class Span(NamedTuple):
    """A 1-based position in a spec file."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class Node(NamedTuple):
    """A YAML value with its location: a scalar, a list of Nodes or a dict of str -> Node.

    Positions are kept as the parser's marks and turned into Spans only when a diagnostic needs one:
    reading a mark's line is the slowest part of loading a large spec.
    """

    value: Any
    mark: Any
    path: str
    key_mark: Any = None  # where the key of a mapping entry stands
    raw: str | None = None  # a scalar's text as written
    quoted: bool = False

    @property
    def span(self) -> Span:
        return span_of(self.path, self.mark)

    @property
    def key_span(self) -> Span | None:
        return span_of(self.path, self.key_mark) if self.key_mark is not None else None

    @property
    def where(self) -> Span:
        """The key for a mapping entry, else the value: where a diagnostic about the entry points."""
        return self.key_span or self.span


def span_of(path: str, mark) -> Span:
    return Span(path, mark.line + 1, mark.column + 1)
