"""Safe YAML loading that keeps the line and column of every key and value."""

from __future__ import annotations

import os
import stat

from convert.core.diagnostics import Diagnostic
from convert.core.errors import CausalcError, NotRegular
from convert.core.located import Node, Span, span_of as _span
from convert.frontend.pyyaml import yaml

_YAML = "tag:yaml.org,2002:"
_STR, _INT = _YAML + "str", _YAML + "int"
_PLAIN_TAGS = {_YAML + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")}
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: 10x faster
_RESOLVED: dict = {}  # (node class, scalar, implicit) -> tag
_RESOLVED_MAX = 1 << 16


class _Loader(_SAFE_LOADER):
    """The safe loader, with each scalar's implicit tag looked up once: a spec repeats its keys and values
    (`type`, `filters`, `Conv1D`, `2`) hundreds of times, and the resolver matches each against its
    patterns anew. The safe loaders' tags depend on the scalar alone (they have no path resolvers)."""

    def resolve(self, kind, value, implicit):
        key = (kind, value, implicit)
        tag = _RESOLVED.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_RESOLVED) < _RESOLVED_MAX:
                _RESOLVED[key] = tag
        return tag

    def descend_resolver(self, current_node, current_index):  # path resolvers only, and there are none
        pass

    def ascend_resolver(self):
        pass


MAX_DEPTH = 64
MAX_NODES = 2_000_000
MAX_SPEC_BYTES = 16 * 2**20  # a spec file larger than this is not read
MAX_DIGITS = 4_300  # Python's own limit for reading an integer


class _Builder:
    def __init__(self, path: str):
        self.path = path
        self.constructor = yaml.constructor.SafeConstructor()
        self.diagnostics: list[Diagnostic] = []
        self.count = 0

    def build(self, node, depth: int = 0, key_mark=None) -> Node | None:
        self.count += 1
        mark = node.start_mark
        if depth > MAX_DEPTH or self.count > MAX_NODES:
            raise _TooLarge(_span(self.path, mark))
        if node.tag not in _PLAIN_TAGS:
            self.diagnostics.append(_unsafe_tag(node.tag, _span(self.path, mark)))
            return None
        if isinstance(node, yaml.MappingNode):
            return Node(self._mapping(node, depth), mark, self.path, key_mark)
        if isinstance(node, yaml.SequenceNode):
            items = [self.build(item, depth + 1) for item in node.value]
            return Node([i for i in items if i is not None], mark, self.path, key_mark)
        quoted = node.style in ("'", '"')
        if node.tag == _STR:
            return Node(node.value, mark, self.path, key_mark, node.value, quoted)
        if node.tag == _INT and len(node.value.lstrip("+-")) > MAX_DIGITS:
            self.diagnostics.append(Diagnostic("E114", _span(self.path, mark), f"a number of {len(node.value):,} "
                                               f"digits; causalc reads numbers of up to {MAX_DIGITS:,}",
                                               "Write the number the field needs; no size or count is that large."))
            return None
        try:
            if node.tag == _INT and node.value.isdigit() and (node.value[0] != "0" or node.value == "0"):
                return Node(int(node.value), mark, self.path, key_mark, node.value, quoted)  # decimal: no constructor
            value = self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, OverflowError) as error:
            self.diagnostics.append(Diagnostic("E110", _span(self.path, mark),
                                               f"cannot read the scalar {node.value!r}: {error}",
                                               "Write a plain number or string."))
            return None
        return Node(value, mark, self.path, key_mark, node.value, quoted)

    def _mapping(self, node, depth: int) -> dict[str, Node]:
        entries: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key_mark = key_node.start_mark
            if key_node.tag == _YAML + "merge":
                self.diagnostics.append(Diagnostic(
                    "E111", _span(self.path, key_mark), "merge keys (`<<`) are not supported in a spec",
                    "Write the fields out in full."))
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _PLAIN_TAGS:
                self.diagnostics.append(Diagnostic("E110", _span(self.path, key_mark), "mapping keys must be plain strings",
                                                   "Write keys as `name:`, `filters:` and so on."))
                continue
            key = str(key_node.value)
            if key in entries:
                first = entries[key].key_span
                self.diagnostics.append(Diagnostic(
                    "E102", _span(self.path, key_mark), f"duplicate key `{key}` (first at line {first.line}, column {first.column})",
                    f"Keep one `{key}:` in this mapping."))
                continue
            value = self.build(value_node, depth + 1, key_mark)
            if value is not None:
                entries[key] = value
        return entries


class _TooLarge(CausalcError):
    def __init__(self, span: Span):
        self.span = span


def _unsafe_tag(tag: str, span: Span) -> Diagnostic:
    shown = tag.replace(_YAML, "!!")
    return Diagnostic("E101", span, f"YAML tag `{shown}` is not allowed in a spec; it was not executed",
                      "Write the value as a plain number, string, list or mapping without a tag.")


def _syntax_error(error: yaml.YAMLError, path: str, text: str) -> Diagnostic:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        span = _span(path, mark)
    elif isinstance(error, yaml.reader.ReaderError):
        before = text[: error.position]
        span = Span(path, before.count("\n") + 1, len(before) - before.rfind("\n"))
    else:
        span = Span(path, 1, 1)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    return Diagnostic("E100", span, message, "Check indentation, colons and quotes at this position.")


def load_yaml(text: str, path: str) -> tuple[Node | None, list[Diagnostic]]:
    """Parse YAML text into located Nodes; never constructs Python objects from tags."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as error:
        return None, [_syntax_error(error, path, text)]
    except RecursionError:
        return None, [Diagnostic("E103", Span(path, 1, 1), "the spec nests too deeply to read",
                                 "Flatten the structure of the file.")]
    if root is None:
        return None, [Diagnostic("E110", Span(path, 1, 1), "the spec is empty; expected a mapping with `input` and `layers`",
                                 "Start from `input: {channels: 1}` and `layers: [...]`.")]
    builder = _Builder(path)
    try:
        node = builder.build(root)
    except _TooLarge as error:
        if builder.count > MAX_NODES:
            aliased = "*" in text
            return None, [Diagnostic("E103", error.span, f"the spec expands to more than {MAX_NODES:,} values",
                                     "Write it without nested aliases (`*name`)." if aliased else
                                     f"causalc reads specs of up to {MAX_NODES:,} values; split the network.")]
        return None, [Diagnostic("E103", error.span, f"the spec nests deeper than {MAX_DEPTH} levels",
                                 "Flatten the structure of the file.")]
    return node, builder.diagnostics


def read_bytes(path: str, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a regular file (OSError, or NotRegular, otherwise)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(f"{path} is not a regular file")
        return handle.read(limit + 1)


def regular_or_absent(path: str, what: str = "") -> None:
    """Refuse (NotRegular) a path that exists and is not a regular file: a FIFO, a device or a folder,
    which causalc would wait on for ever, write without end, or cannot replace."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise NotRegular(f"{what or path}: cannot use {path}: {error.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise NotRegular(f"{what + ': ' if what else ''}{path} is {kind}, not a regular file")


def read_text(path: str) -> tuple[str | None, list[Diagnostic]]:
    """Read a spec file as UTF-8, turning I/O and decoding problems into diagnostics. Only regular files of
    up to MAX_SPEC_BYTES are read: a FIFO is never waited on, a device never read to its end."""
    try:
        data = read_bytes(path, MAX_SPEC_BYTES)
    except NotRegular:
        return None, [Diagnostic("E100", Span(path, 1, 1), "not a regular file (a folder, FIFO or device)",
                                 "Lint spec files: regular `.yaml` files.")]
    except OSError as error:
        return None, [Diagnostic("E100", Span(path, 1, 1), f"cannot read the file: {error.strerror}",
                                 "Check the path and its permissions.")]
    if len(data) > MAX_SPEC_BYTES:
        return None, [Diagnostic("E100", Span(path, 1, 1), f"the file is larger than {MAX_SPEC_BYTES // 2**20} MiB, "
                                 "causalc's limit for a spec", "Check that this is a spec file.")]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        return None, [Diagnostic("E100", Span(path, line, column), "the file is not valid UTF-8",
                                 "Save the spec as UTF-8 text.")]


_YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def suspicious_values(node: Node | None) -> list[Diagnostic]:
    """Scalars YAML reads differently from how they look (W304)."""
    out: list[Diagnostic] = []
    stack = [node] if node is not None else []
    while stack:
        item = stack.pop()
        if isinstance(item.value, dict):
            stack.extend(item.value.values())
        elif isinstance(item.value, list):
            stack.extend(item.value)
        elif item.raw is not None and not item.quoted:
            message = _suspicion(item.raw, item.value)
            if message:
                out.append(Diagnostic("W304", item.span, message[0], message[1]))
    return out


def _suspicion(raw: str, value) -> tuple[str, str] | None:
    lowered = raw.lower()
    if isinstance(value, bool) and lowered not in ("true", "false"):
        return (f"`{raw}` is read as the boolean {str(value).lower()}",
                f"Write `{str(value).lower()}` for a boolean, or quote it (`\"{raw}\"`) for a string.")
    if isinstance(value, str) and lowered in _YAML11_BOOLEANS:
        return None
    if isinstance(value, str) and _looks_numeric(raw):
        return (f"`{raw}` is read as a string, not a number",
                "YAML 1.1 needs a dot in exponent floats: write `1.0e-3` or `0.001`.")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and (":" in raw or "_" in raw):
        return (f"`{raw}` is read as the number {value:g}" if isinstance(value, float) else
                f"`{raw}` is read as the number {value}",
                "YAML 1.1 reads `1:30` as 90 (base 60) and `1_0` as 10: write the number plainly, or quote it "
                "for a string.")
    if isinstance(value, int) and not isinstance(value, bool) and _leading_zero(raw):
        return (f"`{raw}` is read as the octal number {value}", f"Drop the leading zero: `{raw.lstrip('0') or '0'}`.")
    return None


def _looks_numeric(raw: str) -> bool:
    first = raw.lstrip("_")[:1]
    if not (first.isdecimal() or first in "+-."):  # what float() reads starts so (inf and nan are not numbers here)
        return False
    try:
        float(raw.replace("_", ""))
    except ValueError:
        return False
    return raw.lower().lstrip("+-") not in ("inf", "infinity", "nan")


def _leading_zero(raw: str) -> bool:
    digits = raw.lstrip("+-")
    return len(digits) > 1 and digits[0] == "0" and digits[1:].replace("_", "").isdigit()
