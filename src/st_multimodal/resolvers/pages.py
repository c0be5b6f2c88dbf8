"""Page selections for ``as_document(x, pages=...)``: parsed when the wrapper is made, applied once the page count is known.

Pages are numbered from 1, as PDF viewers show them. A selection is an ``int``, an iterable of ints,
a ``range`` or a string such as ``"1-3,5,8-"`` (``"8-"``: page 8 to the last). The pages are used in
document order, each once, whatever order the selection names them in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Union

from ..errors import LimitExceededError, PageOutOfRangeError

__all__ = ["PageSelection", "Spans", "parse_pages", "select_pages"]

Spans = tuple[tuple[int, Union[int, None]], ...]
"""Inclusive ``(first, last)`` spans; ``last`` None means "to the end of the document"."""
PageSelection = Union[int, str, range, Iterable[int], None]


def _page_number(value: object, selection: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"page numbers must be ints, got {value!r} in pages={selection!r}")
    if value < 1:
        raise ValueError(f"pages are numbered from 1 (as PDF viewers show them), got {value} in pages={selection!r}")
    return value


def _parse_text(text: str) -> Spans:
    spans = []
    for part in text.replace(" ", "").split(","):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"cannot read the page selection {text!r}: use e.g. '1-3,5' or '8-' (to the last page)")
        start = _page_number(int(first), text)
        end = _page_number(int(last), text) if last else (None if dash else start)
        if end is not None and end < start:
            raise ValueError(f"page range {part!r} runs backwards in pages={text!r}")
        spans.append((start, end))
    return tuple(spans)


def parse_pages(pages: PageSelection) -> Spans | None:
    """Check a selection and turn it into spans (None: every page). Raises TypeError/ValueError on a bad one."""
    if pages is None:
        return None
    if isinstance(pages, str):
        return _parse_text(pages)
    if isinstance(pages, int) and not isinstance(pages, bool):
        number = _page_number(pages, pages)
        return ((number, number),)
    if isinstance(pages, range) and pages.step == 1 and len(pages):  # a span, however long: never listed out
        return ((_page_number(pages.start, pages), pages.stop - 1),)
    if isinstance(pages, (bytes, dict)) or not isinstance(pages, Iterable):
        raise TypeError(f"pages= takes an int, a list or range of ints, or a string like '1-3,5'; got {pages!r}")
    numbers = [_page_number(p, pages) for p in pages]
    if not numbers:
        raise ValueError("pages= selects no page")
    return tuple((n, n) for n in numbers)


def select_pages(spans: Spans | None, page_count: int, max_pages: int | None = None) -> list[int]:
    """The selected page numbers, in document order.

    A page past the end is a PageOutOfRangeError; more than ``max_pages`` pages is a LimitExceededError
    (checked before the list is built, so a huge document costs nothing).
    """
    merged: list[list[int]] = []
    for start, end in sorted((s, page_count if e is None else e) for s, e in (spans or ((1, None),))):
        if end > page_count or start > page_count:
            bad = start if start > page_count else end
            raise PageOutOfRangeError(f"page {bad} is not in the PDF, which has {page_count} page{'s' * (page_count != 1)}",
                                      page=bad, page_count=page_count)
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    total = sum(end - start + 1 for start, end in merged)
    if max_pages is not None and total > max_pages:
        raise LimitExceededError(f"the PDF would expand into {total} pages", limit_name="pdf_max_pages",
                                 limit=max_pages, actual=total)
    return [page for start, end in merged for page in range(start, end + 1)]
