"""An ordered, named registry: the one mechanism behind sources, decoders and resolvers.

Entries are tried in order. Names are unique: registering a taken name raises unless
``clobber=True``, so nothing is overwritten silently. Position is explicit (``before=`` /
``after=`` another name; default: the end). Entries may be lazy dotted paths
(``"pkg.module:attr"``) imported on first use, with an install hint when the import fails.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from .errors import MissingDependencyError

T = TypeVar("T")

__all__ = ["Registry", "RegistryError"]


class RegistryError(ValueError):
    """A name clash or an unknown position in a registry."""


class Registry(Generic[T]):
    """Named entries kept in the order they are tried."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._extras: dict[str, str | None] = {}
        self._lock = threading.RLock()

    def register(
        self,
        name: str,
        entry: T | str,
        *,
        before: str | None = None,
        after: str | None = None,
        clobber: bool = False,
        extra: str | None = None,
    ) -> T | str:
        """Add ``entry`` under ``name``. A string entry is a lazy ``"module:attr"`` path."""
        if before is not None and after is not None:
            raise RegistryError("give at most one of before= and after=")
        with self._lock:
            if name in self._entries and not clobber:
                raise RegistryError(
                    f"{self.kind} {name!r} is already registered; pass clobber=True to replace it"
                )
            items = [(k, v) for k, v in self._entries.items() if k != name]
            anchor = before or after
            if anchor is not None and anchor not in dict(items):
                raise RegistryError(f"cannot place {self.kind} {name!r} relative to unknown {anchor!r}")
            if anchor is None:
                position = len(items) if not (clobber and name in self._entries) else list(self._entries).index(name)
            else:
                position = [k for k, _ in items].index(anchor) + (1 if after else 0)
            items.insert(position, (name, entry))
            self._entries = dict(items)
            self._extras[name] = extra
        return entry

    def unregister(self, name: str) -> None:
        with self._lock:
            if name not in self._entries:
                raise KeyError(f"no {self.kind} named {name!r}")
            self._entries = {key: entry for key, entry in self._entries.items() if key != name}
            self._extras.pop(name, None)

    def get(self, name: str) -> T:
        """The entry called ``name``, importing it first if it is lazy."""
        entry = self._entries[name]  # the dict is replaced, never mutated in place: reading needs no lock
        if isinstance(entry, str):
            entry = self._load(name, entry)
        return entry

    def _load(self, name: str, path: str) -> T:
        module_name, _, attr = path.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            package = (exc.name or module_name).split(".")[0]
            raise MissingDependencyError(
                f"{self.kind} {name!r} needs an optional package", package=package, extra=self._extras.get(name)
            ) from exc
        obj = getattr(module, attr) if attr else module
        if isinstance(obj, type):
            obj = obj()
        with self._lock:
            if self._entries.get(name) == path:
                self._entries = {**self._entries, name: obj}
        return obj

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> Iterator[tuple[str, T | str]]:
        """(name, entry) in order, lazy entries left unimported (a consistent snapshot: the dict is never mutated)."""
        return iter(self._entries.items())

    def view(self) -> Mapping[str, T | str]:
        """A read-only view of the entries, in order."""
        return MappingProxyType(self._entries)

    def snapshot(self) -> dict[str, T | str]:
        return dict(self._entries)

    def restore(self, snapshot: dict[str, T | str]) -> None:
        """Put back a snapshot taken earlier (for tests)."""
        with self._lock:
            self._entries = dict(snapshot)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
