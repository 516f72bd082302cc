"""Views of a list of diagnostics: text (with source and caret), JSON, GitHub annotations and SARIF."""

from __future__ import annotations

import os
from functools import lru_cache

from convert import __version__
from convert.core.codes import RULES
from convert.core.diagnostics import Diagnostic
from convert.frontend.source import MAX_SPEC_BYTES, read_bytes

_ANSI = {"error": "\033[1;31m", "warning": "\033[1;33m", "note": "\033[1;36m", "path": "\033[1m", "caret": "\033[1;36m",
         "help": "\033[32m", "dim": "\033[2m", "reset": "\033[0m"}


@lru_cache(maxsize=64)
def _source_lines(path: str) -> tuple[str, ...]:
    try:
        data = read_bytes(path, MAX_SPEC_BYTES)  # regular files only: a FIFO is never waited on
    except OSError:
        return ()
    return tuple(data[:MAX_SPEC_BYTES].decode("utf-8-sig", errors="replace").splitlines())


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c != 0x09}


def printable(text: str) -> str:
    """Text for a terminal: control characters (escape sequences included) shown as \\xNN, never sent."""
    return text.translate(_CONTROL)


def _text_one(d: Diagnostic, color: bool) -> str:
    paint = (lambda key, s: f"{_ANSI[key]}{s}{_ANSI['reset']}") if color else (lambda key, s: s)
    lines = [f"{paint('path', printable(str(d.span)) + ':')} {paint(d.severity, d.severity + ' ' + d.code)} "
             f"{printable(d.message)}"]
    source = _source_lines(d.span.path)
    if 0 < d.span.line <= len(source):
        gutter = str(d.span.line)
        lines.append(paint("dim", f" {gutter} | ") + printable(source[d.span.line - 1].replace("\t", " ")))
        lines.append(paint("dim", f" {' ' * len(gutter)} | ") + " " * (d.span.column - 1) + paint("caret", "^"))
    if d.help:
        lines.append(f"  {paint('help', 'help:')} {printable(d.help)}")
    return "\n".join(lines)


def text(diagnostics: list[Diagnostic], color: bool = False) -> str:
    """`PATH:LINE:COL: SEVERITY CODE message`, the source line with a caret under the column, then `help:`."""
    return "\n".join(_text_one(d, color) for d in diagnostics)


def as_json(diagnostics: list[Diagnostic], color: bool = False) -> str:
    import json  # imported by the views that use it: lint's text report starts without them

    return json.dumps([d.as_dict() for d in diagnostics], indent=2)


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def github(diagnostics: list[Diagnostic], color: bool = False) -> str:
    """GitHub Actions workflow commands: one `::error ...::message` line per diagnostic."""
    lines = []
    for d in diagnostics:
        props = f"file={_escape_property(d.span.path)},line={d.span.line},col={d.span.column}," \
                f"title={_escape_property(d.code + ' ' + RULES[d.code].name)}"
        body = d.message + (f"\nhelp: {d.help}" if d.help else "")
        command = {"note": "notice"}.get(d.severity, d.severity)
        lines.append(f"::{command} {props}::{_escape_data(body)}")
    return "\n".join(lines)


def sarif(diagnostics: list[Diagnostic], color: bool = False) -> str:
    """SARIF 2.1.0 for code-scanning tools: every rule with its documentation, every result with its region."""
    import json
    from urllib.parse import quote

    codes = sorted(RULES)
    rules = [{
        "id": code,
        "name": RULES[code].name,
        "shortDescription": {"text": RULES[code].summary},
        "fullDescription": {"text": RULES[code].why},
        "help": {"text": f"Example fix: {RULES[code].example}"},
        "defaultConfiguration": {"level": RULES[code].severity},
    } for code in codes]
    results = [{
        "ruleId": d.code,
        "ruleIndex": codes.index(d.code),
        "level": d.severity,
        "message": {"text": d.message + (f" Help: {d.help}" if d.help else "")},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": quote(d.span.path.replace(os.sep, "/"), safe="/")},
            "region": {"startLine": d.span.line, "startColumn": d.span.column},
        }}],
    } for d in diagnostics]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "causalc", "version": __version__, "rules": rules}},
                  "results": results}],
    }
    return json.dumps(log, indent=2)


FORMATS = {"text": text, "json": as_json, "github": github, "sarif": sarif}


def explain_rule(code: str) -> str:
    """What `causalc lint --explain CODE` prints."""
    rule = RULES[code]
    return (f"{rule.code} ({rule.name}, {rule.severity})\n\n{rule.summary}\n\nWhy: {rule.why}\n\n"
            f"Example fix: {rule.example}\n")
