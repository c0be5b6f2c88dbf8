"""The one exception tree of st_multimodal.

Every error about an input derives from :class:`MultimodalInputError`. Errors raised for an item
of a batch carry ``.index`` (its position in the call) and ``.source`` (a short, safe description
of where it came from) and name both in their message::

    MultimodalInputError(Exception)                 .index, .source
     ├── UnsupportedInputError(…, TypeError, ValueError)  no resolver takes this value
     │    └── ModalityNotSupportedError                     the model cannot take this modality
     ├── FetchError(…, OSError)                       .status, .transient
     │    └── BlockedSourceError(…, PermissionError)  the fetch policy forbids this source
     ├── DecodeError(…, ValueError)                   the bytes are not valid media
     │    └── EncryptedDocumentError                  a password-protected PDF
     ├── PageOutOfRangeError(…, IndexError)           .page, .page_count: a selected page is not in the PDF
     ├── LimitExceededError(…, ValueError)            .limit_name, .limit, .actual
     └── MissingDependencyError(…, ImportError)       .package, .extra

Every class keeps working across ``pickle`` (worker processes, Ray actors). Where upstream Sentence
Transformers raises a built-in exception for the same situation, ours derives from it too (upstream
refuses an input it cannot take, or a modality the model does not support, with ``ValueError``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MultimodalInputError",
    "UnsupportedInputError",
    "ModalityNotSupportedError",
    "FetchError",
    "BlockedSourceError",
    "DecodeError",
    "EncryptedDocumentError",
    "PageOutOfRangeError",
    "LimitExceededError",
    "MissingDependencyError",
    "describe_source",
]

_MAX_SOURCE_CHARS = 120


def describe_source(value: Any) -> str:
    """A short, printable description of an input, safe to put in a message or a log.

    An object may describe itself with a ``__describe_source__()`` method (a PDF page: ``"report.pdf#page=3"``).
    """
    if hasattr(type(value), "__describe_source__"):
        return str(value.__describe_source__())  # already short: not cut (a page keeps its "#page=N")
    if isinstance(value, str):
        head = value[: _MAX_SOURCE_CHARS + 1]  # never copy a long string whole (a 500 MiB data: URI)
        text = head if not head.startswith("data:") else head.split(",", 1)[0] + ",…"
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = f"<{type(value).__name__} of {len(value)} bytes>"
    else:
        shape = getattr(value, "shape", None) or getattr(value, "size", None)
        text = f"<{type(value).__module__}.{type(value).__name__}{'' if shape is None else f' {tuple(shape)}'}>"
        if hasattr(value, "__fspath__"):
            text = str(value.__fspath__())
    if len(text) > _MAX_SOURCE_CHARS:
        text = text[: _MAX_SOURCE_CHARS - 1] + "…"
    return text


def describe_text(text: str) -> str:
    """How a text input is named in messages and failures: its length, never its words."""
    return f"<text of {len(text)} characters>"


class MultimodalInputError(Exception):
    """Base class: an input could not be turned into something the model accepts."""

    def __init__(self, message: str, *, index: int | None = None, source: str | None = None, **fields: Any):
        self.reason = message
        self.index = index
        self.source = source
        self._fields = fields
        for key, value in fields.items():
            setattr(self, key, value)
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"input {self.index}")
        if self.source is not None:
            where.append(repr(self.source))
        return f"{' '.join(where)}: {self.reason}" if where else self.reason

    def at(self, index: int | None = None, source: str | None = None) -> "MultimodalInputError":
        """Attach the batch position and source (keeps values already set) and return self."""
        if self.index is None:
            self.index = index
        if self.source is None:
            self.source = source
        self.args = (self._render(),)
        return self

    def renumbered(self, index: int) -> "MultimodalInputError":
        """Move the error to position ``index`` (e.g. from a chunk to the whole input) and return self."""
        self.index = index
        self.args = (self._render(),)
        return self

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self):
        return (_rebuild, (type(self), self.reason, self.index, self.source, self._fields))


def _rebuild(cls, reason, index, source, fields):
    return cls(reason, index=index, source=source, **fields)


class UnsupportedInputError(MultimodalInputError, TypeError, ValueError):
    """No resolver accepts this value, or its shape/layout is ambiguous.

    A ``TypeError``, and a ``ValueError`` as upstream raises for an input it cannot take.
    """


class ModalityNotSupportedError(UnsupportedInputError):
    """The model does not accept this modality; the message names the ones it does (a ``ValueError``, as upstream raises)."""


class FetchError(MultimodalInputError, OSError):
    """Bytes could not be fetched. ``.status`` is the HTTP status (or None); ``.transient`` says a retry may help."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False, **kw: Any):
        super().__init__(message, status=status, transient=transient, **kw)


class BlockedSourceError(FetchError, PermissionError):
    """The fetch policy forbids this source (scheme, domain, address or file root)."""

    def __init__(self, message: str, **kw: Any):
        kw.setdefault("status", None)
        kw.setdefault("transient", False)
        super().__init__(message, **kw)


class DecodeError(MultimodalInputError, ValueError):
    """The bytes or array are not valid media of any known kind."""


class EncryptedDocumentError(DecodeError):
    """The PDF is encrypted with a password; decrypt it first (e.g. ``qpdf --decrypt``)."""


class PageOutOfRangeError(MultimodalInputError, IndexError):
    """A selected page is not in the document. ``.page`` is the page asked for, ``.page_count`` how many there are."""

    def __init__(self, message: str, *, page: int, page_count: int, **kw: Any):
        super().__init__(message, page=page, page_count=page_count, **kw)


class LimitExceededError(MultimodalInputError, ValueError):
    """A size limit was hit. ``.limit_name``, ``.limit`` and ``.actual`` say which and by how much."""

    def __init__(self, message: str, *, limit_name: str, limit: Any, actual: Any, **kw: Any):
        super().__init__(message, limit_name=limit_name, limit=limit, actual=actual, **kw)

    def _render(self) -> str:
        return f"{super()._render()} ({self.limit_name}: limit {self.limit}, got {self.actual})"


class MissingDependencyError(MultimodalInputError, ImportError):
    """An optional package is needed. ``.package`` names it, ``.extra`` the pip extra that installs it."""

    def __init__(self, message: str, *, package: str, extra: str | None = None, **kw: Any):
        super().__init__(message, package=package, extra=extra, **kw)

    def _render(self) -> str:
        hint = f"pip install {self.package}" + (f", or this package's [{self.extra}] extra" if self.extra else "")
        return f"{super()._render()}: install {self.package!r} ({hint})"
