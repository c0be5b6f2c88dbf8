"""Audio with PyAV (bundled FFmpeg): any container/codec it reads, to a mono float32 AudioDict.

The duration limit is checked from the container's metadata before decoding when it is known, and
enforced again while decoding. Samples are scaled by their dtype, downmixed, resampled and cropped
by the same functions as in-memory arrays (:mod:`.arrays`), so a WAV file and its samples agree.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import DecodeError, LimitExceededError, MissingDependencyError, MultimodalInputError
from ..policy import DecodeLimits
from ..types import FetchedBytes, ResolveContext
from .arrays import check_audio_seconds, finish_audio, scale_audio
from .ffmpeg import open_closed
from .sniff import sniff_format

__all__ = ["AudioDecoder", "open_container", "decode_audio_track", "container_seconds", "format_name",
           "media_errors"]


@contextmanager
def media_errors(what: str) -> Iterator[None]:
    """Turn library errors into DecodeError; FFmpeg's ENOMEM (a MemoryError subclass) included, a real one not."""
    try:
        yield
    except MultimodalInputError:
        raise
    except Exception as exc:
        if isinstance(exc, MemoryError) and not type(exc).__module__.startswith("av."):
            raise
        raise DecodeError(f"corrupt {what}: {type(exc).__name__}: {exc}") from exc


def _av():
    try:
        import av
    except ImportError as exc:
        raise MissingDependencyError("decoding audio and video needs PyAV", package="av") from exc
    return av


def open_container(data: bytes):
    """Open bytes with PyAV, closed to everything but these bytes (:mod:`.ffmpeg`); unreadable data is a DecodeError."""
    return open_closed(data)


def format_name(container, data: bytes) -> str:
    """Our sniffed format name, else FFmpeg's short demuxer name."""
    return sniff_format(data[:64]) or container.format.name.split(",")[0]


def container_seconds(container, stream) -> float | None:
    """Duration from the stream or container metadata (None when unknown)."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000
    return None


def _frame_mono(frame) -> np.ndarray:
    """One decoded frame as mono float32 (scaled by sample dtype, then averaged over channels)."""
    data = frame.to_ndarray()
    channels = frame.layout.nb_channels or 1
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    samples = scale_audio(data)
    return samples[0] if channels == 1 else samples.mean(axis=0, dtype=np.float32)


def decode_audio_track(container, limits: DecodeLimits) -> tuple[np.ndarray, int]:
    """Decode the first audio stream to (mono float32, rate), enforcing ``max_audio_seconds`` as it goes."""
    stream = container.streams.audio[0]
    seconds = container_seconds(container, stream)
    if seconds is not None and seconds > limits.max_audio_seconds:
        raise LimitExceededError("audio is too long", limit_name="max_audio_seconds",
                                 limit=limits.max_audio_seconds, actual=round(seconds, 3))
    chunks, total, rate = [], 0, None
    for frame in container.decode(stream):
        rate = rate or frame.sample_rate
        if not frame.sample_rate or frame.sample_rate != rate:
            raise DecodeError(f"audio sample rate changes mid-stream ({rate} -> {frame.sample_rate})")
        chunks.append(_frame_mono(frame))
        total += chunks[-1].size
        check_audio_seconds(total, rate, limits)
    if not chunks or total == 0:
        raise DecodeError("the audio stream holds no samples")
    return np.concatenate(chunks), int(rate)


class AudioDecoder:
    """WAV, FLAC, MP3, OGG/Opus/Vorbis, AAC/M4A, AIFF... (everything FFmpeg reads) to an AudioDict."""

    modality = "audio"
    mime_prefixes = ("audio/", "application/ogg")
    extensions = (".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aiff", ".aif",
                  ".amr", ".caf", ".wma", ".mka")

    def accept(self, prefix: bytes) -> bool:
        return sniff_format(prefix, "audio") is not None

    def decode(self, fetched: FetchedBytes, ctx: ResolveContext) -> tuple[Any, tuple[int, ...], str]:
        with open_container(fetched.data) as container:
            fmt = format_name(container, fetched.data)
            if not container.streams.audio:
                if container.streams.video:
                    from .video import VideoDecoder

                    return VideoDecoder().decode(fetched, ctx)
                raise DecodeError(f"the {fmt} file holds no audio stream")
            with media_errors(f"{fmt} audio"):
                mono, rate = decode_audio_track(container, ctx.limits)
        with media_errors(f"{fmt} audio"):
            audio = finish_audio(mono, rate, ctx)
        return audio, (int(audio["array"].size),), fmt
