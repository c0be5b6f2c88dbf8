"""Choosing a decoder for some bytes (magic bytes, then MIME type, then extension) and running it.

The signature tables below are what the built-in decoders' ``accept`` methods consult. Container
formats that can hold either audio or video are split by their own headers: an MP4/ISO-BMFF file is
audio when its ``ftyp`` brand is an M4A/M4B brand, an image when it is HEIC/AVIF, video otherwise.
Matroska/WebM always goes to the video decoder, which hands audio-only files to the audio decoder.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from ..errors import DecodeError, UnsupportedInputError
from ..types import FetchedBytes
from .base import DECODERS, SNIFF_BYTES, Decoder

__all__ = ["choose_decoder", "sniff_format", "describe_prefix", "modality_of", "is_pdf", "PDF_MAGIC"]

PDF_MAGIC = b"%PDF-"

_GENERIC_MIMES = ("application/octet-stream", "binary/octet-stream", "application/unknown", "")
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")
_IMAGE_BRANDS = {b"heic": "heic", b"heix": "heic", b"heim": "heic", b"heis": "heic", b"hevc": "heic",
                 b"hevx": "heic", b"mif1": "heic", b"msf1": "heic", b"avif": "avif", b"avis": "avif"}
_MOV_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def _image_format(p: bytes) -> str | None:
    if p.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if p.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if p[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if p[:4] == b"RIFF" and p[8:12] == b"WEBP":
        return "webp"
    if p[:2] == b"BM" and len(p) >= 14 and p[6:10] == b"\0\0\0\0":
        return "bmp"
    if p[:4] in (b"II*\0", b"MM\0*"):
        return "tiff"
    if p[:4] == b"\0\0\1\0" and len(p) >= 6 and p[4:6] != b"\0\0":
        return "ico"
    if p[4:8] == b"ftyp":
        return _IMAGE_BRANDS.get(p[8:12])
    return None


def _audio_format(p: bytes) -> str | None:
    if p[:4] == b"RIFF" and p[8:12] == b"WAVE":
        return "wav"
    if p[:4] == b"fLaC":
        return "flac"
    if p[:4] == b"OggS":
        return "ogg"
    if p[:3] == b"ID3":
        return "mp3"
    if p[:4] == b"FORM" and p[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if p[:5] == b"#!AMR" or p[:4] == b"caff":
        return "amr" if p[:1] == b"#" else "caf"
    if p[4:8] == b"ftyp" and p[8:12] in _AUDIO_BRANDS:
        return "m4a"
    if len(p) >= 3 and p[0] == 0xFF and (p[1] & 0xE0) == 0xE0:
        if (p[1] & 0xF6) == 0xF0:
            return "aac"  # ADTS: layer bits 00
        if (p[1] & 0x06) and (p[2] & 0xF0) != 0xF0 and (p[2] & 0x0C) != 0x0C:
            return "mp3"  # MPEG audio frame sync with a valid layer, bitrate and rate index
    return None


def _video_format(p: bytes) -> str | None:
    if p[4:8] == b"ftyp":
        brand = p[8:12]
        if brand in _AUDIO_BRANDS or brand in _IMAGE_BRANDS:
            return None
        return "mov" if brand == b"qt  " else "mp4"
    if p[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in p[:SNIFF_BYTES] else "matroska"
    if p[:4] == b"RIFF" and p[8:12] == b"AVI ":
        return "avi"
    if p[:3] == b"FLV":
        return "flv"
    if p[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "asf"
    if p[:4] == b"\0\0\1\xba":
        return "mpeg"
    if p[4:8] in _MOV_ATOMS:
        return "mov"
    return None


_SNIFFERS = (("image", _image_format), ("audio", _audio_format), ("video", _video_format))


def is_pdf(prefix: bytes) -> bool:
    """True if these leading bytes are a PDF document (``%PDF-``)."""
    return bytes(prefix[: len(PDF_MAGIC)]) == PDF_MAGIC


def sniff_format(prefix: bytes, modality: str | None = None) -> str | None:
    """The format name these leading bytes announce (optionally only formats of one modality)."""
    for name, sniffer in _SNIFFERS:
        if modality in (None, name) and (found := sniffer(prefix)):
            return found
    return None


def describe_prefix(prefix: bytes) -> str:
    """What the first bytes look like, in words, for error messages."""
    if not prefix:
        return "the content is empty (0 bytes)"
    text = prefix.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")):
        return "it looks like an HTML page, not media (an error page or a web page instead of the file?)"
    if text.startswith((b"<?xml", b"<svg")):
        return "it looks like XML/SVG (SVG is not supported; rasterise it first)"
    if text.startswith((b"{", b"[")):
        return "it looks like JSON, not media"
    try:
        decoded = prefix.decode("utf-8")
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None and all(c.isprintable() or c in "\r\n\t" for c in decoded):
        return f"it looks like text: {decoded[:40]!r}"
    return f"unrecognised binary data starting with 0x{prefix[:12].hex()}"


def _looks_textual(prefix: bytes) -> bool:
    return describe_prefix(prefix).startswith(("it looks like", "the content is empty"))


def _extension(fetched: FetchedBytes) -> str | None:
    for candidate in (fetched.name, fetched.source):
        if candidate:
            path = urlparse(candidate).path if "://" in candidate else candidate
            ext = os.path.splitext(path)[1].lower()
            if ext:
                return ext
    return None


def _decoders() -> list[Decoder]:
    return [DECODERS.get(name) for name in DECODERS.names()]


def choose_decoder(fetched: FetchedBytes) -> Decoder:
    """The decoder for these bytes: magic bytes first, then the MIME type, then the file extension."""
    prefix = bytes(fetched.data[:SNIFF_BYTES])
    decoders = _decoders()
    for decoder in decoders:
        if decoder.accept(prefix):
            return decoder
    if is_pdf(prefix):  # never read as one picture: a PDF expands into its pages, and only when asked for
        raise UnsupportedInputError(
            "the content is a PDF document, not a single image, audio or video: wrap the input in "
            "st_multimodal.as_document(...) so it expands into one input per page"
        )
    if _looks_textual(prefix):
        raise DecodeError(f"cannot decode the content as media: {describe_prefix(prefix)}")
    mime = (fetched.mime or "").split(";")[0].strip().lower()
    if mime not in _GENERIC_MIMES:
        for decoder in decoders:
            if any(mime.startswith(m) for m in decoder.mime_prefixes):
                return decoder
    ext = _extension(fetched)
    if ext:
        for decoder in decoders:
            if ext in decoder.extensions:
                return decoder
    hints = ", ".join(h for h in (f"MIME type {mime!r}" if mime else "", f"extension {ext!r}" if ext else "") if h)
    raise DecodeError(f"unknown media format ({describe_prefix(prefix)}{'; ' + hints if hints else ''})")


def modality_of(value: Any, default: str) -> str | tuple[str, ...]:
    """The modality a decoded value belongs to (a decoder may hand a file to another modality)."""
    if isinstance(value, dict):
        if "sampling_rate" in value:
            return "audio"
        if "video_metadata" in value:
            return "video"
        return tuple(sorted(value))
    return "image" if hasattr(value, "getpixel") else default
