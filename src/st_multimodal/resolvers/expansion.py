"""Expanding PDF inputs into their pages: one input in, one item per (selected) page out, before a model sees them.

An input is a document when it is ``as_document(x)``, bytes starting with ``%PDF-``, a
``data:application/pdf`` URI, or a path or URL (``file://``, ``http(s)://``, fsspec) whose path ends
in ``.pdf``. Only the name is looked at, so inputs that are not documents cost one string test and no
I/O; a PDF under another name is refused when it is resolved, with an error that says to wrap it in
``as_document``. Each document is fetched once, under the fetch policy, and opened once to count its
pages; its pages are rendered later, one by one, where the model decodes its inputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from ..errors import DecodeError, MultimodalInputError, UnsupportedInputError, describe_source
from ..hashing import hash_bytes
from ..types import Failure, FetchedBytes, ResolveContext
from .base import _located_error
from .documents import DocumentPage
from .pages import Spans, select_pages
from .strings import is_location
from .typed import TypedInput

__all__ = ["ExpandedInputs", "expand_documents", "document_of", "has_documents", "page_id"]

_PDF_MIME = "application/pdf"


def page_id(base: Any, page: int) -> str:
    """The id of one page of the input called ``base``: ``"report.pdf#page=3"``."""
    return f"{base}#page={page}"


class ExpandedInputs(list):
    """The inputs with every document replaced by its pages, in order; pass it to ``encode`` / ``predict`` as it is.

    ``origins[i]`` is the caller's position of item ``i``, ``pages[i]`` its page number (None when the
    item is not a page), ``failures`` the documents that could not be expanded (with ``on_error="skip"``)
    and ``input_count`` how many inputs the caller gave. ``encode`` reports failures at the caller's
    positions, with ``Failure.page`` naming the page.
    """

    def __init__(self, items: Iterable[Any] = (), origins: Sequence[int] = (), pages: Sequence[int | None] = (),
                 failures: Sequence[Failure] = (), input_count: int = 0):
        super().__init__(items)
        self.origins, self.pages = list(origins), list(pages)
        self.failures, self.input_count = list(failures), input_count

    def rows(self, failures: Iterable[Failure] = ()) -> list[tuple[int, int | None]]:
        """``(input index, page)`` of each row ``encode(self, on_error="skip")`` returned, given its failures."""
        failed = {(f.index, f.page) for f in failures}
        return [key for key in zip(self.origins, self.pages) if key not in failed]

    def item_ids(self, ids: Sequence[Any]) -> list[Any]:
        """One id per item from one id per input: a page of the input with id ``x`` is ``"x#page=N"``."""
        return [ids[o] if p is None else page_id(ids[o], p) for o, p in zip(self.origins, self.pages)]


def _pdf_location(text: str, strict: bool) -> bool:
    if strict or len(text) > 4096:
        return False
    if text[:5].lower() == "data:":
        return text[5:5 + len(_PDF_MIME)].lower() == _PDF_MIME and is_location(text)
    if ".pdf" not in text.lower():
        return False
    path = urlsplit(text).path if "://" in text else text
    return path.lower().rstrip().endswith(".pdf") and is_location(text)


def _starts_pdf(data: Any) -> bool:
    if not isinstance(data, memoryview):
        return data[:5] == b"%PDF-"
    try:
        return bytes(memoryview(data).cast("B")[:5]) == b"%PDF-"
    except (TypeError, ValueError):
        return False


def document_of(raw: Any, ctx: ResolveContext) -> tuple[Any, Spans | None] | None:
    """``(what to fetch, page spans)`` if ``raw`` is a document input, else None (cheap: no I/O)."""
    if isinstance(raw, TypedInput):
        return (raw.value, raw.options.get("pages")) if raw.modality == "document" else None
    if isinstance(raw, str):
        return (raw, None) if _pdf_location(raw, ctx.strict) else None
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return (raw, None) if _starts_pdf(raw) else None
    if isinstance(raw, os.PathLike):
        return (raw, None) if os.fspath(raw).lower().endswith(".pdf") else None
    return None


def has_documents(items: Iterable[Any], ctx: ResolveContext, pairs: bool = False) -> bool:
    """True if any input (or, for pairs, any document side) is a document (cheap: no I/O)."""
    return any(document_of(_side(raw, pairs), ctx) is not None for raw in items)


def _fetch(value: Any, ctx: ResolveContext) -> FetchedBytes:
    from ..sources.base import SOURCES, fetch
    from .builtin import _check_size, _read_binary

    if isinstance(value, str):
        return fetch(value, ctx)
    if isinstance(value, os.PathLike):
        return SOURCES.get("file").fetch(os.fspath(value), ctx)
    if isinstance(value, (bytes, bytearray, memoryview)) or hasattr(value, "read"):
        data = bytes(value) if not hasattr(value, "read") else _read_binary(value, ctx)
        _check_size(len(data), ctx)
        return FetchedBytes(data=data, source=describe_source(value))
    raise UnsupportedInputError(f"as_document() takes a path, URL, data URI, bytes or a binary file, got {describe_source(value)}")


def _pages(index: int, raw: Any, value: Any, spans: Spans | None, ctx: ResolveContext) -> list[DocumentPage]:
    """Fetch one document, count and select its pages (nothing is rendered)."""
    from ..decoders.pdf import count_pages, is_pdf
    from ..decoders.sniff import describe_prefix

    fetched = _fetch(value, ctx)
    data = bytes(fetched.data)
    if not is_pdf(data[:5]):
        raise DecodeError(f"expected a PDF document, but {describe_prefix(data[:64])}")
    count = count_pages(data)
    chosen = select_pages(spans, count, ctx.limits.pdf_max_pages)
    digest, base = hash_bytes(data), describe_source(value)
    return [DocumentPage(data, digest, page, count, index, page_id(base, page), raw) for page in chosen]


def _expand_one(index: int, raw: Any, found: tuple[Any, Spans | None], ctx: ResolveContext) -> list[DocumentPage] | Failure:
    try:
        return _pages(index, raw, found[0], found[1], ctx)
    except Exception as exc:
        error = _located_error(exc, index, describe_source(found[0]), "PDF expansion")
        if not isinstance(error, MultimodalInputError):
            raise error from exc
        return Failure(index=index, source=error.source or "", error=error)


def _as_list(inputs: Any, pairs: bool) -> list[Any]:
    if isinstance(inputs, (list, tuple)) and not (pairs and len(inputs) == 2 and not isinstance(inputs[0], (list, tuple))):
        return list(inputs)
    if isinstance(inputs, (str, bytes, bytearray, memoryview, dict, TypedInput, os.PathLike, tuple)) or not isinstance(inputs, Iterable):
        return [inputs]
    return list(inputs)


def _context(context: Any) -> ResolveContext:
    if context is None:
        return ResolveContext()
    if isinstance(context, ResolveContext):
        return context
    if hasattr(context, "resolve_context"):
        return context.resolve_context()
    raise TypeError(f"context must be a ResolveContext or a model, got {type(context).__name__}")


def expand_documents(inputs: Any, context: Any = None, *, on_error: str = "raise", pairs: bool = False) -> ExpandedInputs:
    """Replace every document among ``inputs`` by one ``DocumentPage`` item per (selected) page, in order.

    ``context`` is a model (its fetch policy and limits apply) or a ``ResolveContext`` (None: the
    defaults). With ``pairs=True`` the inputs are CrossEncoder ``(query, document)`` pairs and a PDF on
    the document side becomes one pair per page. A document that cannot be fetched, opened or
    selected from raises (``on_error="raise"``) or is kept in ``.failures`` (``"skip"``).
    ``model.encode(expand_documents(x, model))`` returns exactly what ``model.encode(x)`` returns.
    """
    if isinstance(inputs, ExpandedInputs):
        return inputs
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    ctx = _context(context)
    items = _as_list(inputs, pairs)
    found = {i: doc for i, raw in enumerate(items) if (doc := document_of(_side(raw, pairs), ctx)) is not None}
    outcomes = _expand_all(items, found, ctx, pairs)
    failures = [o for o in outcomes.values() if isinstance(o, Failure)]
    if failures and on_error == "raise":
        raise failures[0].error
    out, origins, pages = [], [], []
    for i, raw in enumerate(items):
        expanded = outcomes.get(i)
        if expanded is None:
            out.append(raw), origins.append(i), pages.append(None)
        elif not isinstance(expanded, Failure):
            out.extend((raw[0], p) if pairs else p for p in expanded)
            origins.extend(i for _ in expanded), pages.extend(p.page for p in expanded)
    return ExpandedInputs(out, origins, pages, failures, len(items))


def _side(raw: Any, pairs: bool) -> Any:
    """The part of an input that may be a document: the input itself, or a pair's document side."""
    if not pairs:
        return raw
    return raw[1] if isinstance(raw, (list, tuple)) and len(raw) == 2 else None


def _expand_all(items: list, found: dict, ctx: ResolveContext, pairs: bool) -> dict[int, list[DocumentPage] | Failure]:
    def one(i: int) -> list[DocumentPage] | Failure:
        return _expand_one(i, _side(items[i], pairs), found[i], ctx)

    if len(found) <= 1:
        return {i: one(i) for i in found}
    with ThreadPoolExecutor(min(len(found), ctx.fetch_policy.max_concurrency, 8), thread_name_prefix="st-mm-pdf") as pool:
        return dict(zip(found, pool.map(one, found)))
