"""Fenced code blocks of a docs page, with the skip reason written above each: shared by the docs tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
_FENCE = re.compile(r"^```(\w+)?\s*$")
_SKIP = re.compile(r"<!--\s*skip:\s*(.+?)\s*-->")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # line of the opening fence
    language: str
    code: str
    skip: str | None


def blocks_of(page: str) -> list[Block]:
    """The fenced blocks of a page, with the skip reason written just above each (if any)."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, language = i, (match.group(1) or "").lower()
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        above = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        skip = _SKIP.search(above)
        blocks.append(Block(page, start + 1, language, "\n".join(body) + "\n", skip.group(1) if skip else None))
        i += 1
    return blocks
