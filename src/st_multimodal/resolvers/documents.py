"""Pages of PDF inputs: the ``DocumentPage`` item that ``expand_documents`` makes, and the resolver that renders it.

A page resolves to an image whose rendering is deferred (``Resolved.loader``), so the model looks the
page up in its embedding cache first and renders it on a decode worker only on a miss. Its
``content_hash`` is derived from the PDF's hash, the page number and the render settings, so two
pages never share a cache entry and a re-render at another DPI is a different key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnsupportedInputError
from ..policy import DecodeLimits
from ..types import Provenance, Resolved, ResolveContext

__all__ = ["DocumentPage", "DocumentResolver", "page_hash"]


@dataclass(frozen=True, eq=False)
class DocumentPage:
    """One page of a PDF input. ``index`` is the PDF's position among the caller's inputs, ``page`` counts from 1."""

    data: bytes = field(repr=False)
    """The whole PDF (shared by all its pages, not copied)."""
    pdf_hash: str = field(repr=False)
    """sha256 of ``data``."""
    page: int
    page_count: int
    index: int
    source: str
    """Where the page came from: ``"report.pdf#page=3"``."""
    origin: Any = field(default=None, repr=False)
    """The caller's input this page came from (a path, URL, bytes or ``as_document`` wrapper)."""

    def __describe_source__(self) -> str:
        return self.source


def page_hash(pdf_hash: str, page: int, limits: DecodeLimits) -> str:
    """The content hash of one rendered page: the PDF's hash, the page, and every setting that changes the pixels."""
    settings = (page, limits.pdf_dpi, limits.pdf_max_pixels_per_page, limits.max_pixels, limits.image_background)
    return hashlib.sha256(f"pdf-page\x00{pdf_hash}\x00{settings!r}".encode()).hexdigest()


def page_resolved(item: DocumentPage, ctx: ResolveContext) -> Resolved:
    """A Resolved image whose rendering waits for ``materialize()``."""
    provenance = Provenance(source=item.source, content_hash=page_hash(item.pdf_hash, item.page, ctx.limits),
                            num_bytes=len(item.data), mime="application/pdf")

    def render() -> Resolved:
        from ..decoders.pdf import render_page

        image = render_page(item.data, item.page, ctx.limits)
        return Resolved("image", image, Provenance(source=provenance.source, content_hash=provenance.content_hash,
                                                   num_bytes=provenance.num_bytes, decoded_size=image.size, mime="pdf"))

    return Resolved("image", None, provenance, loader=render)


class DocumentResolver:
    """``DocumentPage`` items, rendered lazily (``as_document`` wrappers that were not expanded stop at ``typed``)."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        return page_resolved(value, ctx) if isinstance(value, DocumentPage) else None


def not_expanded_error() -> UnsupportedInputError:
    return UnsupportedInputError(
        "a document expands into one input per page, so it cannot stand where one input is expected "
        "(inside a pair's query side, a dict or a message): pass it as an input of its own to encode / predict / "
        "MultimodalIndex.add, or call st_multimodal.expand_documents() first"
    )
