"""Small value types shared by every layer: what a resolved input looks like and where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from .errors import MultimodalInputError
from .policy import DEFAULT_DECODE_LIMITS, DEFAULT_FETCH_POLICY, DecodeLimits, FetchPolicy

__all__ = [
    "Modality",
    "Provenance",
    "Resolved",
    "Failure",
    "ResolveContext",
    "FetchedBytes",
]

Modality = Literal["text", "image", "audio", "video", "message"]
"""Same names as upstream's ``sentence_transformers.base.modality_types.Modality`` (plus tuples for dicts)."""


@dataclass(frozen=True)
class Provenance:
    """Where a resolved input came from."""

    source: str
    """Short description of the original input (URL, path, ``<bytes of N>``, ``<PIL.Image>`` ...)."""
    content_hash: str | None = None
    """sha256 hex digest of the raw bytes (or of the decoded array when there were no bytes)."""
    num_bytes: int | None = None
    decoded_size: tuple[int, ...] | None = None
    """Image (width, height); audio (samples,); video (frames, height, width)."""
    mime: str | None = None
    """The decoder's format name or the MIME type that was sniffed."""


@dataclass
class Resolved:
    """An input decoded into upstream's shapes, tagged with its modality.

    ``value`` is a ``str`` (text), a ``PIL.Image.Image`` in RGB (image), an ``AudioDict``
    ``{"array", "sampling_rate"}`` (audio), a ``VideoDict`` ``{"array", "video_metadata"}`` (video),
    or a dict of those keyed by modality (multimodal; then ``modality`` is a sorted tuple).
    """

    modality: str | tuple[str, ...]
    value: Any
    provenance: Provenance
    loader: Callable[[], "Resolved"] | None = field(default=None, repr=False, compare=False)
    """Deferred decode: set when bytes were fetched and hashed but not yet decoded (see ``materialize``)."""
    tensor_loader: Callable[[], "Resolved | None"] | None = field(default=None, repr=False, compare=False)
    """Optional faster deferred decode of an image straight to the ``(3, H, W)`` uint8 tensor handed to
    upstream (same pixels); returns None when the input does not qualify. Used by the inference loop only."""

    @property
    def is_materialized(self) -> bool:
        return self.loader is None

    def materialize(self, *, prefer_tensor: bool = False) -> "Resolved":
        """Run the deferred decode, if any, and return self. With ``prefer_tensor``, ``tensor_loader`` is
        tried first (the same pixels as a ``(3, H, W)`` uint8 tensor, for inputs that qualify)."""
        if self.loader is not None:
            decoded = self.tensor_loader() if prefer_tensor and self.tensor_loader is not None else None
            if decoded is None:
                decoded = self.loader()  # the modality may be refined (e.g. a video file with its audio track)
            self.modality, self.value, self.provenance = decoded.modality, decoded.value, decoded.provenance
            self.loader = self.tensor_loader = None
        return self


@dataclass(frozen=True)
class Failure:
    """One input that could not be used: its position, its source and the typed error (and page, for PDFs)."""

    index: int
    source: str
    error: MultimodalInputError
    page: int | None = None
    """For a page of a PDF input: its 1-based page number (``index`` is then the PDF's position)."""

    def renumbered(self, index: int, page: int | None = None) -> "Failure":
        """The same failure at position ``index`` of the caller's input (its error renumbered too)."""
        return Failure(index=index, source=self.source, error=self.error.renumbered(index), page=page if page is not None else self.page)


@dataclass(frozen=True)
class FetchedBytes:
    """Raw bytes from a source, before decoding."""

    data: bytes
    source: str
    mime: str | None = None
    """Content-Type reported by the source, if any (a hint; magic bytes win)."""
    name: str | None = None
    """File name or URL path, for the last-resort extension hint."""


@dataclass(frozen=True)
class ResolveContext:
    """Everything a resolver, source or decoder may consult. Frozen; built once per call."""

    fetch_policy: FetchPolicy = DEFAULT_FETCH_POLICY
    limits: DecodeLimits = DEFAULT_DECODE_LIMITS
    strict: bool = False
    """Untyped strings are always text (for services taking end-user input)."""
    audio_sampling_rate: int | None = None
    """Target rate for audio (read from the model's feature extractor)."""
    audio_max_seconds: float | None = None
    """The model's audio window; longer clips are cropped deterministically."""
    extras: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def replace(self, **changes: Any) -> "ResolveContext":
        import dataclasses

        return dataclasses.replace(self, **changes)
