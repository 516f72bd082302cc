"""The README and the pages of docs/ as the tests read them: their fenced blocks, each with its language,
its line and the heading above it; the shell lines of a block and the output printed after each (the
`# ` lines that follow a command)."""

from __future__ import annotations

import glob
import os
import re
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))


class Block(NamedTuple):
    page: str
    lang: str
    text: str
    line: int  # of the opening fence, 1-based
    heading: str  # the nearest heading above it ("" before the first)
    before: str  # the text between the previous block (or heading) and this one

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def text(page: str) -> str:
    with open(os.path.join(ROOT, page), encoding="utf-8") as handle:
        return handle.read()


def blocks(page: str) -> list[Block]:
    found, heading, lines = [], "", text(page).split("\n")
    i, since = 0, 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^(\s*)```(\S*)\s*$", line)
        if fence:
            start, body = i, []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i][len(fence.group(1)):])
                i += 1
            found.append(Block(page, fence.group(2), "\n".join(body) + "\n", start + 1, heading,
                               "\n".join(lines[since:start])))
            since = i + 1
        elif re.match(r"^#{1,4} ", line):
            heading, since = line, i + 1
        i += 1
    return found


def every_block() -> list[Block]:
    return [block for page in PAGES for block in blocks(page)]


def python_block(page: str, heading: str, index: int = 0) -> str:
    """The `index`-th python block under `heading` (a heading line, or a marker the text before it holds)."""
    chosen = [b for b in blocks(page) if b.lang == "python" and (b.heading == heading or heading in b.before)]
    assert len(chosen) > index, f"{page} has no python block under {heading!r}"
    return chosen[index].text


class Command(NamedTuple):
    line: str  # the command as written
    printed: list[str]  # the `# ` lines after it: what it prints


def commands(block: Block) -> list[Command]:
    """The commands of a shell block with the output written after each (comments after a command)."""
    out: list[Command] = []
    for raw in block.text.splitlines():
        if raw.startswith("# ") or raw == "#":
            if out:
                out[-1].printed.append(raw[2:])
            continue
        if raw.strip():
            out.append(Command(raw.split("  #")[0].strip(), []))
    return out
