"""The source extension point: where bytes come from, chosen by URL scheme. Sources never decode."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..registry import Registry
from ..types import FetchedBytes, ResolveContext

__all__ = ["Source", "SOURCES", "register_source", "scheme_of", "fetch"]


@runtime_checkable
class Source(Protocol):
    """Fetches the bytes behind a location string for the schemes it is registered under."""

    def fetch(self, location: str, ctx: ResolveContext) -> FetchedBytes:
        """Return the bytes, or raise FetchError / BlockedSourceError / LimitExceededError."""
        ...


SOURCES: Registry[Source] = Registry("source")
_MAX_SCHEME_CHARS = 64


def register_source(scheme: str, source: Source | str, *, clobber: bool = False, extra: str | None = None) -> None:
    """Register ``source`` for URLs of ``scheme`` (e.g. ``"s3"``). Refuses to replace one unless ``clobber``."""
    SOURCES.register(scheme.lower(), source, clobber=clobber, extra=extra)


def scheme_of(location: str) -> str | None:
    """The lower-cased scheme of ``location`` (``"http"``, ``"file"``, ``"s3"``), or None for a plain path.

    Windows drive paths (``C:\\x``) are paths, not a ``c:`` scheme.
    """
    head, sep, _ = location[:_MAX_SCHEME_CHARS].partition(":")  # a slice: a huge data: URI is never copied
    if not sep or len(head) < 2 or not head[0].isalpha():
        return None
    if not all(c.isalnum() or c in "+-." for c in head):
        return None
    return head.lower()


def fetch(location: str, ctx: ResolveContext) -> FetchedBytes:
    """Fetch ``location`` through the source registered for its scheme (plain paths use ``file``)."""
    from ..errors import BlockedSourceError, UnsupportedInputError

    scheme = scheme_of(location) or "file"
    if scheme not in SOURCES:
        raise UnsupportedInputError(f"no source is registered for scheme {scheme!r}", source=location)
    if scheme not in ctx.fetch_policy.allowed_schemes and scheme not in ("file",):
        raise BlockedSourceError(f"scheme {scheme!r} is not allowed by the fetch policy", source=location)
    return SOURCES.get(scheme).fetch(location, ctx)
