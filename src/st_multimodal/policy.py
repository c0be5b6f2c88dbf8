"""Frozen configuration objects: where inputs may come from (FetchPolicy) and how big they may be (DecodeLimits).

Both are built once and passed down (to the model constructor, or per call); there are no module
globals. Use ``.replace(**changes)`` to derive a variant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

__all__ = ["FetchPolicy", "DecodeLimits", "DEFAULT_FETCH_POLICY", "DEFAULT_DECODE_LIMITS"]

MiB = 1024 * 1024


class _Replaceable:
    def replace(self, **changes):
        """A copy with some fields changed (validated like a new object)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class FetchPolicy(_Replaceable):
    """What may be fetched, from where, and how long and how much it may take.

    Addresses are checked on the resolved IP, and the connection is made to the checked address
    (no second DNS lookup), so DNS rebinding cannot bypass the checks.
    """

    enabled: bool = True
    """False turns every remote fetch off (local files are governed by ``allow_files``)."""
    timeout: float = 30.0
    """Total deadline in seconds for one fetch, redirects and body included."""
    connect_timeout: float = 10.0
    max_bytes: int = 64 * MiB
    """Largest body accepted, enforced while streaming (with or without Content-Length)."""
    max_redirects: int = 5
    allowed_schemes: frozenset[str] = frozenset({"http", "https", "data", "file"})
    """Schemes that may be used at all; ``"file"`` covers plain local paths as well as ``file://`` URIs."""
    allowed_domains: tuple[str, ...] | None = None
    """If set, only these hosts (and their subdomains) may be fetched."""
    denied_domains: tuple[str, ...] = ()
    allow_loopback: bool = False
    allow_private: bool = False
    """Private (RFC 1918, ULA, CGNAT) networks; link-local and cloud metadata stay blocked even then."""
    allow_files: bool = True
    """Local paths and ``file://`` URIs (never reachable through a redirect)."""
    file_roots: tuple[str, ...] | None = None
    """If set, local files must lie under one of these directories (after resolving symlinks)."""
    refuse_hard_links: bool = False
    """Refuse local files that have more than one hard link (``st_nlink > 1``). A hard link inside
    ``file_roots`` to a file outside them is the same file as the original and cannot be told apart:
    turn this on where untrusted users can create links inside the roots."""
    retries: int = 2
    """Retries for transient failures only (timeouts, connection resets, 5xx, 408, 429)."""
    retry_backoff: float = 0.25
    max_concurrency: int = 16
    user_agent: str = "sentence-transformers-multimodal"

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_schemes", frozenset(s.lower() for s in self.allowed_schemes))
        object.__setattr__(self, "denied_domains", tuple(d.lower().strip(".") for d in self.denied_domains))
        if self.allowed_domains is not None:
            object.__setattr__(self, "allowed_domains", tuple(d.lower().strip(".") for d in self.allowed_domains))
        if self.file_roots is not None:
            object.__setattr__(self, "file_roots", tuple(str(r) for r in self.file_roots))
        for name in ("timeout", "connect_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FetchPolicy.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_bytes", "max_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"FetchPolicy.{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("max_redirects", "retries"):
            if getattr(self, name) < 0:
                raise ValueError(f"FetchPolicy.{name} must be >= 0, got {getattr(self, name)!r}")

    @classmethod
    def offline(cls) -> "FetchPolicy":
        """No remote fetching at all: only local files and in-memory values."""
        return cls(enabled=False)


@dataclass(frozen=True)
class DecodeLimits(_Replaceable):
    """Size limits and decoding choices, checked before or while decoding."""

    max_pixels: int = 89_478_485
    """Largest image (width x height), checked from the header before the pixels are decoded (Pillow's own default)."""
    image_background: tuple[int, int, int] = (255, 255, 255)
    """Colour that transparent pixels are composited onto."""
    animated_frame: int = 0
    """Which frame of an animated image to use."""
    draft_jpeg: bool = False
    """Let Pillow decode large JPEGs at reduced scale (opt-in; see the performance docs)."""
    max_audio_seconds: float = 600.0
    audio_crop: Literal["start", "center"] = "center"
    """Deterministic crop for audio longer than the model's window."""
    video_num_frames: int | None = None
    """Sample this many frames evenly (overrides ``video_fps``)."""
    video_fps: float = 2.0
    max_video_frames: int = 32
    max_video_seconds: float = 3600.0
    video_audio: bool = False
    """Also decode a video's audio track."""
    max_array_elements: int = 512 * MiB
    """Largest in-memory array accepted (elements)."""
    pdf_dpi: float = 150.0
    """Resolution PDF pages are rendered at (72 = one pixel per point; an A4 page at 150 is 1240 x 1754)."""
    pdf_max_pixels_per_page: int = 2048 * 2048
    """Largest rendered page (width x height): bigger pages are rendered at a lower scale to fit (never refused)."""
    pdf_max_pages: int = 1000
    """Most pages one PDF input may expand into (after page selection); more is a LimitExceededError."""
    # -- structure and text
    max_text_chars: int = 500_000
    """Longest text accepted, checked before hashing or tokenising. About 4x the longest window of any
    supported model (32,768 tokens, ~130,000 characters of English), so no text a model can read is refused;
    the worst text it lets through (one 500,000-character word) costs about +120 MB and 3 s to tokenise."""
    max_depth: int = 32
    """Deepest nesting of structured inputs (dicts, messages, typed wrappers) accepted; real inputs use 2-4 levels."""
    # Shape limits, checked on an image's header, a video's frame size and a PDF page's render size,
    # before any pixel is decoded, rendered or resized.
    max_aspect_ratio: float = 200.0
    """Longest side / shortest side of an image, video frame or rendered page (Qwen-VL's resize refuses more than 200)."""
    min_side: int = 1
    """Shortest side in pixels of an image, video frame or rendered page (video frames need 5 whatever this says)."""
    max_item_bytes: int = 256 * MiB
    """Memory budget of one item's decoding: decoded pixels or samples, every intermediate and the result
    together, checked before each allocation (images past it are refused, video frames and PDF pages made smaller)."""
    max_decode_seconds: float = 30.0
    """Deadline for decoding one item (fetching not included), checked inside the decode loops."""

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise ValueError(f"DecodeLimits.max_pixels must be >= 1, got {self.max_pixels}")
        if self.max_video_frames < 1 or (self.video_num_frames is not None and self.video_num_frames < 1):
            raise ValueError("DecodeLimits video frame counts must be >= 1")
        if self.video_fps <= 0 or self.max_audio_seconds <= 0:
            raise ValueError("DecodeLimits.video_fps and max_audio_seconds must be > 0")
        if self.pdf_dpi <= 0 or self.pdf_max_pixels_per_page < 1 or self.pdf_max_pages < 1:
            raise ValueError("DecodeLimits.pdf_dpi must be > 0, pdf_max_pixels_per_page and pdf_max_pages >= 1")
        if self.max_text_chars < 1 or self.max_depth < 1:
            raise ValueError("DecodeLimits.max_text_chars and max_depth must be >= 1")
        if not self.max_aspect_ratio >= 1 or self.min_side < 1:
            raise ValueError("DecodeLimits.max_aspect_ratio must be >= 1 and min_side >= 1")
        if self.max_item_bytes < 1 or not self.max_decode_seconds > 0:
            raise ValueError("DecodeLimits.max_item_bytes must be >= 1 and max_decode_seconds > 0")
        object.__setattr__(self, "image_background", tuple(int(c) for c in self.image_background))


DEFAULT_FETCH_POLICY = FetchPolicy()
DEFAULT_DECODE_LIMITS = DecodeLimits()
