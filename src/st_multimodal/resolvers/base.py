"""The resolver extension point: a Python value to a Resolved input, chosen by trying resolvers in order."""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from ..errors import DecodeError, MultimodalInputError, UnsupportedInputError, describe_source
from ..registry import Registry
from ..types import Resolved, ResolveContext

__all__ = ["Resolver", "RESOLVERS", "register_resolver", "resolve", "ENTRY_POINT_GROUP", "load_entry_point_resolvers"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "st_multimodal.resolvers"


@runtime_checkable
class Resolver(Protocol):
    """Takes one raw input. Returns a Resolved, or None when the value is not its kind."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None: ...


RESOLVERS: Registry[Resolver] = Registry("resolver")


def register_resolver(
    name: str,
    resolver: Resolver | str,
    *,
    before: str | None = None,
    after: str | None = None,
    clobber: bool = False,
) -> None:
    """Add a resolver. By default a new one goes first (before every built-in), so it sees values before they do;
    a replaced one (``clobber=True``) keeps its place.

    ``before=`` / ``after=`` name another resolver to place it precisely; ``clobber=True`` replaces
    one of the same name (never done silently).
    """
    if before is None and after is None and len(RESOLVERS) and not (clobber and name in RESOLVERS):
        before = RESOLVERS.names()[0]
    RESOLVERS.register(name, resolver, before=before, after=after, clobber=clobber)


_entry_points_lock = threading.Lock()
_entry_points_loaded = False


def load_entry_point_resolvers() -> list[str]:
    """Register third-party resolvers from the ``st_multimodal.resolvers`` entry-point group (once per process).

    Called automatically before the first ``resolve``. Each entry point's name is the resolver's
    name and its value a ``"module:attr"`` path, imported on first use; it goes before the
    built-ins. A name that is already registered is logged and skipped, never overwritten.
    """
    global _entry_points_loaded
    with _entry_points_lock:
        if _entry_points_loaded:
            return []
        _entry_points_loaded = True
        added = []
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in RESOLVERS:
                logger.warning("resolver entry point %r clashes with a registered resolver; skipped", ep.name)
                continue
            register_resolver(ep.name, ep.value)
            added.append(ep.name)
        return added


def resolve(value: Any, ctx: ResolveContext, index: int | None = None, *, materialize: bool = True) -> Resolved:
    """Resolve one value through the registry; every failure is a MultimodalInputError naming index and source.

    With ``materialize=False`` a byte input may come back fetched and hashed but not yet decoded
    (call ``.materialize()``, or ``materialize_located`` to keep errors located).
    """
    if not _entry_points_loaded:
        load_entry_point_resolvers()
    for name, entry in RESOLVERS.items():
        try:
            resolver = RESOLVERS.get(name) if isinstance(entry, str) else entry
            result = resolver.resolve(value, ctx)
        except BaseException as exc:  # hot loop: the located, typed error is built only on failure
            raise _located_error(exc, index, describe_source(value), f"resolver {name!r}")
        if result is not None:
            return materialize_located(result, index, describe_source(value)) if materialize else result
    raise UnsupportedInputError(
        f"no resolver accepts a value of type {type(value).__module__}.{type(value).__qualname__}; "
        f"registered resolvers: {', '.join(RESOLVERS.names())}",
        index=index,
        source=describe_source(value),
    )


def materialize_located(resolved: Resolved, index: int | None, source: str | None = None, *,
                        prefer_tensor: bool = False) -> Resolved:
    """Run a deferred decode (see ``Resolved.materialize``), turning any failure into a typed error naming
    ``index`` and ``source``."""
    source = source or resolved.provenance.source
    return _located(lambda: resolved.materialize(prefer_tensor=prefer_tensor), index, source, "decoder")


def _located(call, index: int | None, source: str, who: str):
    try:
        return call()
    except BaseException as exc:
        raise _located_error(exc, index, source, who)


def _located_error(exc: BaseException, index: int | None, source: str, who: str) -> BaseException:
    """The error to raise for ``exc``: typed errors get the position and source; a plugin bug or an
    unexpected library error becomes a located DecodeError; interpreter-level errors pass through."""
    if isinstance(exc, MultimodalInputError):
        return exc.at(index, source)
    if isinstance(exc, (MemoryError, RecursionError, KeyboardInterrupt, SystemExit, GeneratorExit)) or not isinstance(exc, Exception):
        return exc
    error = DecodeError(f"{who} failed: {type(exc).__name__}: {exc}", index=index, source=source)
    error.__cause__ = exc
    return error
