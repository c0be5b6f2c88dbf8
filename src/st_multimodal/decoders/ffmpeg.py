"""Opening bytes with PyAV, closed: FFmpeg reads only the bytes we hand it, with a demuxer we chose.

FFmpeg picks a demuxer by probing unless told otherwise, and some demuxers open other things:
``concat``/``ffconcat`` reads files named in the playlist, ``hls`` fetches segments, ``sdp``/``rtp``
bind sockets, ``image2`` reads file patterns. So every open here

- names the demuxer of the format we sniffed (``format=``), and only probes when the bytes came to
  the decoder by MIME type or extension, or when that demuxer refused them;
- allows only the demuxers of :data:`DEMUXERS` (FFmpeg's ``format_whitelist``), probed or not;
- allows no protocol (``protocol_whitelist``): the one input is the in-memory file object PyAV reads;
- refuses every nested open (PyAV's ``io_open`` hook raises), whatever a demuxer asks for.
"""

from __future__ import annotations

import io
from typing import Any

from ..errors import DecodeError, MissingDependencyError
from .sniff import sniff_format

__all__ = ["DEMUXERS", "open_closed", "demuxer_for"]

_SNIFFED = {"wav": "wav", "flac": "flac", "ogg": "ogg", "mp3": "mp3", "aiff": "aiff", "amr": "amr", "caf": "caf",
            "aac": "aac", "m4a": "mov", "mp4": "mov", "mov": "mov", "webm": "matroska", "matroska": "matroska",
            "avi": "avi", "flv": "flv", "asf": "asf", "mpeg": "mpeg"}
DEMUXERS = tuple(sorted(set(_SNIFFED.values()) | {"mpegts", "w64", "au", "wv", "ac3", "eac3"}))
"""The only FFmpeg demuxers ever used: single-file containers that open nothing else."""


def demuxer_for(data: bytes) -> str | None:
    """The FFmpeg demuxer for the format these bytes announce (None: unknown, FFmpeg probes within DEMUXERS)."""
    return _SNIFFED.get(sniff_format(bytes(data[:64])) or "")


def _refuse_nested_open(url: str, flags: int, options: dict) -> Any:
    raise PermissionError("a media file may not open other files, streams or URLs")


def open_closed(data: bytes) -> Any:
    """An input container over ``data`` (see the module docstring); unreadable data is a DecodeError."""
    try:
        import av
    except ImportError as exc:
        raise MissingDependencyError("decoding audio and video needs PyAV", package="av") from exc
    options = {"format_whitelist": ",".join(DEMUXERS), "protocol_whitelist": "none"}
    sniffed = demuxer_for(data)
    for demuxer in (sniffed, None) if sniffed else (None,):
        try:
            return av.open(io.BytesIO(data), mode="r", format=demuxer, container_options=options,
                           io_open=_refuse_nested_open, metadata_errors="ignore")
        except Exception as exc:  # the sniffed demuxer refused it: probe within DEMUXERS once
            error = exc
    raise DecodeError(f"not a readable audio/video container ({type(error).__name__})") from error
