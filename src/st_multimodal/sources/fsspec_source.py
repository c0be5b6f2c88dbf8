"""Any other scheme (``s3://``, ``gs://``, ``hf://``, ``memory://`` ...) through fsspec.

fsspec is imported on first use; without it a :class:`MissingDependencyError` names the extra to
install, and a missing backend (s3fs, gcsfs, ...) is named the same way. The size cap is applied
from the file's metadata first and again while reading. These backends make their own network
connections: the scheme must be listed in ``FetchPolicy.allowed_schemes`` (none is by default),
and the address checks of :mod:`.netguard` do not apply to them.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import BlockedSourceError, FetchError, LimitExceededError, MissingDependencyError
from ..policy import FetchPolicy
from ..types import FetchedBytes, ResolveContext
from .base import scheme_of

__all__ = ["FsspecSource"]

LOCAL_SCHEMES = frozenset({"memory"})
"""Schemes that never leave the process: allowed even when ``FetchPolicy.enabled`` is False."""
_CHUNK = 1 << 20


def _import_fsspec():
    try:
        import fsspec
    except ImportError as exc:
        raise MissingDependencyError("URLs of this scheme are read through fsspec", package="fsspec", extra="fsspec") from exc
    return fsspec


def _backend_package(scheme: str) -> str:
    """The package fsspec needs for ``scheme`` (``s3`` -> ``s3fs``), from its table of known backends."""
    try:
        from fsspec.registry import known_implementations
    except ImportError:  # pragma: no cover - very old fsspec
        return scheme
    return str(known_implementations.get(scheme, {}).get("class", scheme)).split(".")[0]


class FsspecSource:
    """Reads ``scheme://path`` through ``fsspec.core.url_to_fs``; ``storage_options`` go to the filesystem."""

    def __init__(self, **storage_options: Any):
        self.storage_options = storage_options

    def fetch(self, location: str, ctx: ResolveContext) -> FetchedBytes:
        policy = ctx.fetch_policy
        try:
            return self._fetch(location, policy)
        except (FetchError, LimitExceededError, MissingDependencyError) as exc:
            raise exc.at(source=location)

    def _fetch(self, location: str, policy: FetchPolicy) -> FetchedBytes:
        scheme = scheme_of(location) or ""
        if not policy.enabled and scheme not in LOCAL_SCHEMES:
            raise BlockedSourceError("remote fetching is disabled (FetchPolicy.enabled=False)")
        if scheme not in policy.allowed_schemes:
            raise BlockedSourceError(f"scheme {scheme!r} is not in FetchPolicy.allowed_schemes")
        fsspec = _import_fsspec()
        try:
            fs, path = fsspec.core.url_to_fs(location, **self.storage_options)
        except ImportError as exc:
            package = _backend_package(scheme)
            raise MissingDependencyError(f"fsspec needs a backend for {scheme!r}", package=package) from exc
        except ValueError as exc:
            raise FetchError(f"fsspec cannot open {scheme!r} URLs: {exc}", transient=False) from exc
        deadline = time.monotonic() + policy.timeout
        try:
            data = self._read(fs, path, policy, deadline)
        except FileNotFoundError as exc:
            raise FetchError(f"no such file: {path!r}", status=None, transient=False) from exc
        except (IsADirectoryError, PermissionError) as exc:
            raise FetchError(f"cannot read {path!r}: {exc}", transient=False) from exc
        except (TimeoutError, ConnectionError) as exc:
            raise FetchError(f"reading {path!r} failed: {exc}", transient=True) from exc
        except OSError as exc:
            raise FetchError(f"reading {path!r} failed: {exc}", transient=False) from exc
        return FetchedBytes(data=data, source=location, mime=None, name=path)

    @staticmethod
    def _read(fs: Any, path: str, policy: FetchPolicy, deadline: float) -> bytes:
        info = fs.info(path)
        if info.get("type") == "directory":
            raise FetchError(f"is a directory, not a file: {path!r}", transient=False)
        size = info.get("size")
        if isinstance(size, int) and size > policy.max_bytes:
            raise LimitExceededError(
                "file is larger than FetchPolicy.max_bytes",
                limit_name="max_bytes", limit=policy.max_bytes, actual=size,
            )
        body = bytearray()
        with fs.open(path, "rb") as handle:
            while chunk := handle.read(min(_CHUNK, policy.max_bytes + 1 - len(body))):
                body += chunk
                if len(body) > policy.max_bytes:
                    raise LimitExceededError(
                        "file exceeds FetchPolicy.max_bytes",
                        limit_name="max_bytes", limit=policy.max_bytes, actual=len(body),
                    )
                if time.monotonic() > deadline:
                    raise FetchError(f"deadline of {policy.timeout:g} s (FetchPolicy.timeout) exceeded", transient=True)
        return bytes(body)
