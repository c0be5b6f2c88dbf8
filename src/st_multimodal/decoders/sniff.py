"""Choosing a decoder for some bytes by their content alone (the same for every form of input) and running it.

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
from .pillow_formats import pillow_format

__all__ = ["choose_decoder", "sniff_format", "common_image_format", "describe_prefix", "extension_of",
           "modality_of", "is_pdf", "PDF_MAGIC"]

PDF_MAGIC = b"%PDF-"

_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")
_IMAGE_BRANDS = {b"heic": "heic", b"heix": "heic", b"heim": "heic", b"heis": "heic", b"hevc": "heic",
                 b"hevx": "heic", b"mif1": "heic", b"msf1": "heic", b"avif": "avif", b"avis": "avif"}
_MOV_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def common_image_format(p: bytes) -> str | None:
    """The common image formats, recognised without Pillow (the image decoder's ``accept``)."""
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
    if p[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return "tiff"
    if p[:4] == b"\0\0\1\0" and len(p) >= 6 and p[4:6] != b"\0\0":
        return "ico"
    if p[4:8] == b"ftyp":
        return _IMAGE_BRANDS.get(p[8:12])
    return None


_MPEG_BITRATES = {  # kbit/s by (MPEG-1?, layer), for bitrate indexes 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame(p: bytes, at: int) -> tuple[tuple[int, int, int], int] | None:
    """``((version, layer, rate index), frame length)`` of an MPEG audio frame header at ``at``, or None."""
    if len(p) < at + 4 or p[at] != 0xFF or (p[at + 1] & 0xE0) != 0xE0:
        return None
    version, layer_bits = (p[at + 1] >> 3) & 3, (p[at + 1] >> 1) & 3
    bitrate_index, rate_index, padding = p[at + 2] >> 4, (p[at + 2] >> 2) & 3, (p[at + 2] >> 1) & 1
    if version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer = 4 - layer_bits
    bitrate = _MPEG_BITRATES[(version == 3, layer)][bitrate_index - 1] * 1000
    rate = _MPEG_RATES[version][rate_index]
    if layer == 1:
        length = (12 * bitrate // rate + padding) * 4
    else:
        length = (144 if layer == 2 or version == 3 else 72) * bitrate // rate + padding
    return (version, layer, rate_index), length


def _is_mp3(p: bytes) -> bool:
    """An MPEG audio frame followed by a second one where the first says it ends (a lone sync word is not enough)."""
    first = _mpeg_frame(p, 0)
    if first is None:
        return False
    second = _mpeg_frame(p, first[1])
    return second is not None and second[0] == first[0]


def _is_adts(p: bytes) -> bool:
    """An ADTS (AAC) header followed by a second one at the frame length it states."""
    if len(p) < 7 or p[0] != 0xFF or (p[1] & 0xF6) != 0xF0 or ((p[2] >> 2) & 0xF) > 12:
        return False
    length = ((p[3] & 3) << 11) | (p[4] << 3) | (p[5] >> 5)
    return length >= 7 and len(p) >= length + 2 and p[length] == 0xFF and (p[length + 1] & 0xF6) == 0xF0


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
    if _is_adts(p):
        return "aac"
    if _is_mp3(p):
        return "mp3"
    return None


def _video_format(p: bytes) -> str | None:
    if p[4:8] == b"ftyp":
        brand = p[8:12]
        if brand in _AUDIO_BRANDS or brand in _IMAGE_BRANDS:
            return None
        return "mov" if brand == b"qt  " else "mp4"
    if p[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in p[:64] else "matroska"
    if p[:4] == b"RIFF" and p[8:12] == b"AVI ":
        return "avi"
    if p[:3] == b"FLV":
        return "flv"
    if p[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "asf"
    if p[:4] == b"\0\0\1\xba":
        return "mpeg"
    if p[:4] == b"\0\0\1\xb3":
        return "mpegvideo"
    if len(p) > 376 and p[0] == p[188] == p[376] == 0x47:
        return "mpegts"
    if p[4:8] in _MOV_ATOMS:
        return "mov"
    return None


def _pillow_image_format(p: bytes) -> str | None:
    found = pillow_format(p)
    return found.lower() if found else None


_SNIFFERS = (("image", common_image_format), ("audio", _audio_format), ("video", _video_format), ("image", _pillow_image_format))
"""In this order: common images, our audio and video signatures, then every other format Pillow reads."""


def is_pdf(prefix: bytes) -> bool:
    """True if these leading bytes are a PDF document (``%PDF-``)."""
    return bytes(prefix[: len(PDF_MAGIC)]) == PDF_MAGIC


def sniff_format(prefix: bytes, modality: str | None = None) -> str | None:
    """The format name these leading bytes announce (optionally only formats of one modality).

    Give it ``SNIFF_BYTES`` bytes: an MP3 without an ID3 tag is recognised by two frame headers in a row.
    """
    for name, sniffer in _SNIFFERS:
        if modality in (None, name) and (found := sniffer(prefix)):
            return found
    return None


def describe_prefix(prefix: bytes) -> str:
    """What the first bytes look like, in words, for error messages: a kind, never the content itself."""
    if not prefix:
        return "the content is empty (0 bytes)"
    text = prefix.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")):
        return "it looks like an HTML page, not media (an error page or a web page instead of the file?)"
    if text.startswith((b"<?xml", b"<svg")):
        return "it looks like XML/SVG (SVG is not supported; rasterise it first)"
    if text.startswith((b"{", b"[")):
        return "it looks like JSON, not media"
    if _is_text(prefix):
        return "it looks like plain text, not media"
    return "unrecognised binary data"


def _is_text(prefix: bytes) -> bool:
    try:
        decoded = prefix.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut off by the prefix is still text
        if exc.start < len(prefix) - 3:
            return False
        decoded = prefix[: exc.start].decode("utf-8")
    return all(c.isprintable() or c in "\r\n\t" for c in decoded)


def _looks_textual(prefix: bytes) -> bool:
    return describe_prefix(prefix).startswith(("it looks like", "the content is empty"))


def extension_of(fetched: FetchedBytes) -> str | None:
    """The file extension of the input's name or URL path, if it has one (never of a description like ``<bytes>``)."""
    for candidate in (fetched.name, fetched.source):
        if candidate and not candidate.startswith("<"):
            path = urlparse(candidate).path if "://" in candidate else candidate
            ext = os.path.splitext(path)[1].lower()
            if ext and len(ext) <= 6 and ext[1:].isalnum():
                return ext
    return None


def _decoders() -> list[Decoder]:
    return [DECODERS.get(name) for name in DECODERS.names()]


def _size(num_bytes: int) -> str:
    return f"{num_bytes} bytes" if num_bytes < 10_000 else f"{num_bytes / 1e6:.1f} MB" if num_bytes >= 1e6 else f"{num_bytes / 1e3:.1f} kB"


def choose_decoder(fetched: FetchedBytes) -> Decoder:
    """The decoder for these bytes, chosen by their content alone, the same for every form of input.

    In order: each registered decoder's ``accept`` (common images, our audio and video signatures),
    a PDF (refused here: it expands into pages), then every other format Pillow reads (an extension
    only breaks ties between formats the content allows). The MIME type and extension never decide.
    """
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
    if "image" in DECODERS and pillow_format(fetched.data, extension_of(fetched)):
        return DECODERS.get("image")
    size = _size(len(fetched.data))
    if _looks_textual(prefix):
        raise DecodeError(f"cannot decode the content ({size}) as media: {describe_prefix(prefix)}")
    raise DecodeError(f"unknown media format ({describe_prefix(prefix)}, {size})")


def modality_of(value: Any, default: str) -> str | tuple[str, ...]:
    """The modality a decoded value belongs to (a decoder may hand a file to another modality)."""
    if isinstance(value, dict):
        if "sampling_rate" in value:
            return "audio"
        if "video_metadata" in value:
            return "video"
        return tuple(sorted(value))
    return "image" if hasattr(value, "getpixel") else default
