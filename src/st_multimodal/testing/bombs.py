"""Hostile media made in code, for tests: tiny files that ask decoders for a lot of memory or time.

Every helper writes the bytes by hand (or muxes ready-made packets), so building one costs
milliseconds and never holds the decoded size. Byte results are cached.
"""

from __future__ import annotations

import io
from fractions import Fraction
import struct
import zlib
from functools import lru_cache

__all__ = [
    "FFCONCAT_RELATIVE", "SDP_RTP", "ffconcat_absolute", "hls_playlist", "flac_silence",
    "png_gray16", "png_palette_transparent", "png_1bit", "png_gray16_trns", "tiff_flat",
    "webp_canvas", "mjpeg_video", "tiny_frames_video", "pdf_nested_forms", "pdf_operators",
    "pdf_without_pages",
]

FFCONCAT_RELATIVE = b"ffconcat version 1.0\n#\x01\nfile secret.wav\n"
"""An ffconcat playlist naming a file relative to the working directory."""
SDP_RTP = b"\x01\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 40000 RTP/AVP 0\r\n"
"""An SDP description: FFmpeg's sdp demuxer binds UDP sockets to receive it."""


def ffconcat_absolute(path: str) -> bytes:
    """An ffconcat playlist naming an absolute path."""
    return f"ffconcat version 1.0\nfile '{path}'\n".encode()


def hls_playlist(target: str) -> bytes:
    """An HLS (m3u8) playlist whose one segment is ``target`` (a path or URL)."""
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{target}\n#EXT-X-ENDLIST\n".encode()


# --- FLAC ------------------------------------------------------------------------------------------

def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


@lru_cache(maxsize=4)
def flac_silence(rate: int = 384_000, seconds: float = 590.0, block: int = 65_535) -> bytes:
    """Mono 16-bit FLAC of silence whose STREAMINFO does not state the length (total samples 0).

    Each frame is one CONSTANT subframe, so 590 s at 384 kHz fit in about 40 KB.
    """
    frames = int(rate * seconds) // block
    info = struct.pack(">HH", block, block) + b"\0" * 6
    info += ((rate << 44) | (0 << 41) | (15 << 36) | 0).to_bytes(8, "big") + b"\0" * 16
    out = [b"fLaC", bytes([0x80]) + len(info).to_bytes(3, "big"), info]
    for number in range(frames):
        # fixed block size, block size in 16 bits at the end, rate from STREAMINFO, mono, 16 bit
        header = b"\xff\xf8" + bytes([0x70, 0x08]) + chr(number).encode("utf-8") + struct.pack(">H", block - 1)
        header += bytes([_crc8(header)])
        frame = header + b"\x00" + b"\x00\x00"  # CONSTANT subframe, value 0
        out.append(frame + struct.pack(">H", _crc16(frame)))
    return b"".join(out)


# --- PNG -------------------------------------------------------------------------------------------

def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png(width: int, height: int, depth: int, colour: int, extra: bytes = b"") -> bytes:
    """A PNG of zero rows; the zlib stream repeats one fully flushed deflate block, so it costs little to build."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    row = b"\0" * (1 + (width * channels * depth + 7) // 8)
    rows = max(1, min(height, (1 << 22) // len(row)))
    block = row * rows
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packer.compress(block)
    packer.flush(zlib.Z_FULL_FLUSH)
    repeated = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)  # same bytes each time after a full flush
    count, rest = divmod(height, rows)
    tail = packer.compress(row * rest) + packer.flush()
    adler = 1
    for _ in range(count):
        adler = zlib.adler32(block, adler)
    adler = zlib.adler32(row * rest, adler)
    idat = b"\x78\xda" + repeated * count + tail + struct.pack(">I", adler & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@lru_cache(maxsize=4)
def png_gray16(side: int = 9000) -> bytes:
    """A ``side`` x ``side`` 16-bit greyscale PNG (mode I;16: 2 bytes a pixel once decoded)."""
    return _png(side, side, 16, 0)


@lru_cache(maxsize=4)
def png_palette_transparent(side: int = 9000) -> bytes:
    """A 1-bit palette PNG with a tRNS chunk (Pillow converts it through RGBA)."""
    return _png(side, side, 1, 3, _chunk(b"PLTE", b"\0\0\0\xff\xff\xff") + _chunk(b"tRNS", b"\0"))


@lru_cache(maxsize=4)
def png_1bit(side: int = 9000) -> bytes:
    """A 1-bit greyscale PNG (mode 1: one byte a pixel once decoded)."""
    return _png(side, side, 1, 0)


@lru_cache(maxsize=4)
def png_gray16_trns(width: int = 8, height: int = 4) -> bytes:
    """A 16-bit greyscale PNG whose tRNS makes grey level 0 transparent; left half 0, right half 0x8080."""
    raw = b""
    for _ in range(height):
        raw += b"\0" + b"\0\0" * (width // 2) + b"\x80\x80" * (width - width // 2)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"tRNS", b"\0\0")
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


# --- TIFF ------------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def tiff_flat(side: int = 9000, sample_format: int = 2, bits: int = 32) -> bytes:
    """A ``side`` x ``side`` one-channel TIFF of zeros (sample format 1 uint, 2 int, 3 float), deflated.

    Every strip points at the same compressed block, so the file stays small.
    """
    rows = max(1, (1 << 22) // (side * bits // 8))
    strips = (side + rows - 1) // rows
    block = zlib.compress(b"\0" * (side * rows * bits // 8), 9)
    entries = [(256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, bits), (259, 3, 1, 8), (262, 3, 1, 1),
               (273, 4, strips, None), (277, 3, 1, 1), (278, 4, 1, rows), (279, 4, strips, None),
               (339, 3, 1, sample_format)]
    ifd_at = 8
    ifd_size = 2 + 12 * len(entries) + 4
    offsets_at = ifd_at + ifd_size
    counts_at = offsets_at + 4 * strips
    data_at = counts_at + 4 * strips
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        if tag == 273:
            value = offsets_at if strips > 1 else data_at
        elif tag == 279:
            value = counts_at if strips > 1 else len(block)
        ifd += struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    ifd += b"\0\0\0\0"
    return (b"II*\0" + struct.pack("<I", ifd_at) + ifd + struct.pack(f"<{strips}I", *([data_at] * strips))
            + struct.pack(f"<{strips}I", *([len(block)] * strips)) + block)


# --- WebP ------------------------------------------------------------------------------------------

def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


@lru_cache(maxsize=4)
def webp_canvas(side: int = 9000) -> bytes:
    """An animated WebP with a ``side`` x ``side`` canvas and one 1x1 frame (about 90 bytes)."""
    from PIL import Image

    one = io.BytesIO()
    Image.new("RGBA", (1, 1), (10, 20, 30, 255)).save(one, "WEBP", lossless=True)
    vp8l = one.getvalue()[12:]  # the VP8L chunk of a one-pixel still image
    canvas = (side - 1).to_bytes(3, "little") * 2
    vp8x = _riff_chunk(b"VP8X", bytes([0x12, 0, 0, 0]) + canvas)  # animation + alpha flags
    anim = _riff_chunk(b"ANIM", b"\0\0\0\0" + b"\0\0")
    anmf = _riff_chunk(b"ANMF", b"\0" * 6 + b"\0\0\0" * 2 + b"\x64\0\0" + b"\0" + vp8l)
    body = b"WEBP" + vp8x + anim + anmf
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- Video -----------------------------------------------------------------------------------------

@lru_cache(maxsize=2)
def mjpeg_video(side: int = 9000, frames: int = 2) -> bytes:
    """An AVI of ``frames`` flat grey MJPEG frames of ``side`` x ``side`` (packets muxed, not encoded)."""
    import av
    from PIL import Image

    jpeg = io.BytesIO()
    Image.new("L", (side, side), 128).save(jpeg, "JPEG", quality=50)
    buf = io.BytesIO()
    with av.open(buf, "w", format="avi") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width = stream.height = side
        stream.pix_fmt = "yuvj420p"
        for i in range(frames):
            packet = av.Packet(jpeg.getvalue())
            packet.stream, packet.pts, packet.dts = stream, i, i
            packet.is_keyframe = True
            container.mux(packet)
    return buf.getvalue()


@lru_cache(maxsize=4)
def tiny_frames_video(frames: int, fps: int = 25, side: int = 16) -> bytes:
    """An MP4 of ``frames`` identical MPEG-4 frames of ``side`` x ``side``: one keyframe a second, then
    the same inter frame repeated (packets muxed, so building a long video is cheap)."""
    import av
    import numpy as np

    probe = io.BytesIO()
    with av.open(probe, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = fps
        packets = []
        for i in range(fps):
            frame = av.VideoFrame.from_ndarray(np.full((side, side, 3), 100, np.uint8), format="rgb24")
            frame.pts = i
            packets += [bytes(p) for p in stream.encode(frame)]
        packets += [bytes(p) for p in stream.encode(None)]
        extradata = stream.codec_context.extradata
    key, inter = packets[0], packets[1]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        if extradata:
            stream.codec_context.extradata = extradata
        for i in range(frames):
            is_key = i % fps == 0
            packet = av.Packet(key if is_key else inter)
            packet.stream, packet.pts, packet.dts = stream, i, i
            packet.time_base = Fraction(1, fps)
            packet.is_keyframe = is_key
            container.mux(packet)
    return buf.getvalue()


# --- PDF -------------------------------------------------------------------------------------------

def _pdf(objects: list[bytes]) -> bytes:
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def _stream(dictionary: str, content: bytes) -> bytes:
    return f"<< {dictionary} /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream"


def pdf_without_pages() -> bytes:
    """A well-formed PDF whose page tree is empty (PDFium loads it, then counts 0 pages)."""
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])


@lru_cache(maxsize=4)
def pdf_nested_forms(depth: int = 12, fanout: int = 4) -> bytes:
    """One page drawing form X0, which draws X1 ``fanout`` times, ... down to ``depth`` levels:
    ``fanout ** depth`` rectangles from a file of a few KB."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"]
    first_form = 5
    resources = f"/Resources << /XObject << /X0 {first_form} 0 R >> >>"
    objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] {resources} /Contents 4 0 R >>".encode())
    objects.append(_stream("", b"/X0 Do"))
    for level in range(depth):
        if level + 1 < depth:
            draw = b" ".join(b"q 0.9 0 0 0.9 %d %d cm /X Do Q" % (i, i) for i in range(fanout))
            res = f"/Resources << /XObject << /X {first_form + level + 1} 0 R >> >>"
        else:
            draw, res = b"0 0 1 rg 0 0 600 780 re f", ""
        objects.append(_stream(f"/Type /XObject /Subtype /Form /BBox [0 0 612 792] {res}", draw))
    return _pdf(objects)


@lru_cache(maxsize=4)
def pdf_operators(count: int = 15_000_000) -> bytes:
    """One page whose Flate content stream holds ``count`` tiny fill operators (a few hundred KB)."""
    op = b"0 0 1 1 re f\n"
    packer = zlib.compressobj(9)
    step = 100_000
    body = [packer.compress(op * min(step, count - i)) for i in range(0, count, step)]
    content = b"".join(body) + packer.flush()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
               _stream("/Filter /FlateDecode", content)]
    return _pdf(objects)
