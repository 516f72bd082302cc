"""Diagnostics as values: a code, a severity, a location, a message and a help line."""

from __future__ import annotations

from typing import NamedTuple

from convert.core.codes import RULES
from convert.core.errors import CausalcError
from convert.core.located import Span


class Diagnostic(NamedTuple):
    """One problem found in a spec."""

    code: str
    span: Span
    message: str
    help: str = ""

    @property
    def severity(self) -> str:
        return RULES[self.code].severity

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple:
        return (self.span, self.code, self.message)

    def as_dict(self) -> dict:
        return {
            "path": self.span.path,
            "line": self.span.line,
            "column": self.span.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "help": self.help,
        }


class SpecError(CausalcError):
    """Raised when a spec has errors; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        first = self.diagnostics[0] if self.diagnostics else None
        super().__init__(f"{first.span}: {first.code} {first.message}" if first else "invalid spec")


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)
