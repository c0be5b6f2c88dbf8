"""The decoder extension point: bytes to media, chosen by their content alone (``accept`` on the first bytes).

Decoders never fetch. Each returns a value in upstream's shapes (PIL RGB image, AudioDict, VideoDict).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..registry import Registry
from ..types import FetchedBytes, ResolveContext

__all__ = ["Decoder", "DECODERS", "register_decoder"]

SNIFF_BYTES = 4096
"""How many leading bytes ``accept`` is shown (enough for two MPEG audio frame headers)."""


@runtime_checkable
class Decoder(Protocol):
    """Turns bytes of one family of formats into one modality."""

    modality: str
    """"image", "audio" or "video" (a container such as MP4 may answer "video")."""
    mime_prefixes: tuple[str, ...]
    """MIME types (or prefixes such as "image/") of its formats: descriptive only, content decides."""
    extensions: tuple[str, ...]
    """File extensions of its formats: descriptive only, content decides."""

    def accept(self, prefix: bytes) -> bool:
        """True if these leading bytes are a format this decoder reads."""
        ...

    def decode(self, fetched: FetchedBytes, ctx: ResolveContext) -> tuple[Any, tuple[int, ...], str]:
        """Return ``(value, decoded_size, format_name)``; raise DecodeError / LimitExceededError."""
        ...


DECODERS: Registry[Decoder] = Registry("decoder")


def register_decoder(name: str, decoder: Decoder | str, *, before: str | None = None, clobber: bool = False) -> None:
    """Register a decoder; ``before="image"`` lets it see the bytes first."""
    DECODERS.register(name, decoder, before=before, clobber=clobber)
