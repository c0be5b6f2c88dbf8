"""Small, deterministic media made in code, for tests (no network, no files on disk).

Byte results are cached (``functools.lru_cache``); functions returning PIL images or arrays return
fresh objects each call. Audio/video helpers need PyAV.
"""

from __future__ import annotations

import io
import math
import struct
import wave
import zlib
from functools import lru_cache

import numpy as np
from PIL import Image

__all__ = [
    "image", "rgba_image", "jpeg_bytes", "png_bytes", "png_rgba_bytes", "exif_rotated_jpeg_bytes",
    "png16_array", "png16_bytes", "cmyk_jpeg_bytes", "gif_animated_bytes", "bmp_bytes", "tiff_bytes",
    "webp_bytes", "truncated_jpeg_bytes", "png_bomb_bytes", "html_bytes", "wav_samples", "wav_bytes",
    "flac_bytes", "mp3_bytes", "ogg_bytes", "m4a_bytes", "mp4_frame_levels", "mp4_bytes", "webm_bytes",
    "webm_audio_bytes",
]


@lru_cache(maxsize=32)
def _image_array(seed: int, w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.stack([x / max(w - 1, 1) * 255, y / max(h - 1, 1) * 255, (x + y) / max(w + h - 2, 1) * 255], -1)
    for _ in range(3):
        x0, y0 = int(rng.integers(0, max(w // 2, 1))), int(rng.integers(0, max(h // 2, 1)))
        out[y0:y0 + max(h // 3, 1), x0:x0 + max(w // 3, 1)] = rng.integers(0, 256, 3)
    out = out.astype(np.uint8)
    out.setflags(write=False)
    return out


def image(seed: int = 0, w: int = 64, h: int = 48) -> Image.Image:
    """A deterministic, non-uniform RGB picture (gradients plus a few flat rectangles)."""
    return Image.fromarray(_image_array(seed, w, h).copy(), mode="RGB")


def rgba_image(seed: int = 0, w: int = 64, h: int = 48) -> Image.Image:
    """``image(seed)`` with an alpha channel: a transparent band, a half-transparent band, the rest opaque."""
    alpha = np.full((h, w), 255, np.uint8)
    alpha[:, : w // 4] = 0
    alpha[:, w // 4 : w // 2] = 128
    return Image.fromarray(np.dstack([_image_array(seed, w, h), alpha]), mode="RGBA")


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@lru_cache(maxsize=32)
def jpeg_bytes(w: int = 64, h: int = 48, seed: int = 0, quality: int = 90) -> bytes:
    return _save(image(seed, w, h), "JPEG", quality=quality)


@lru_cache(maxsize=32)
def png_bytes(w: int = 64, h: int = 48, seed: int = 0) -> bytes:
    return _save(image(seed, w, h), "PNG")


@lru_cache(maxsize=8)
def png_rgba_bytes(w: int = 64, h: int = 48, seed: int = 0) -> bytes:
    return _save(rgba_image(seed, w, h), "PNG")


@lru_cache(maxsize=4)
def _exif_rotated(seed: int) -> bytes:
    stored = image(seed, 64, 48).transpose(Image.Transpose.ROTATE_90)  # what the camera sensor recorded
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    return _save(stored, "JPEG", quality=95, exif=exif.tobytes())


def exif_rotated_jpeg_bytes(seed: int = 0) -> tuple[bytes, Image.Image]:
    """A JPEG stored sideways with EXIF orientation 6, and the upright picture it should decode to (64x48)."""
    data = _exif_rotated(seed)
    upright = Image.open(io.BytesIO(data)).convert("RGB").transpose(Image.Transpose.ROTATE_270)
    return data, upright


def png16_array(w: int = 64, h: int = 48) -> np.ndarray:
    """The uint16 ramp stored in ``png16_bytes`` (covers 0..65535)."""
    return np.linspace(0, 65535, w * h).round().astype(np.uint16).reshape(h, w)


@lru_cache(maxsize=4)
def png16_bytes(w: int = 64, h: int = 48) -> bytes:
    """A 16-bit grayscale PNG of ``png16_array``."""
    return _save(Image.fromarray(png16_array(w, h)), "PNG")


@lru_cache(maxsize=4)
def cmyk_jpeg_bytes(seed: int = 0) -> bytes:
    return _save(image(seed).convert("CMYK"), "JPEG", quality=95)


@lru_cache(maxsize=4)
def gif_animated_bytes(frames: int = 3, w: int = 32, h: int = 24) -> bytes:
    """An animated GIF whose frame ``i`` is flat red, green, blue, ... (cycling)."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    imgs = [Image.new("RGB", (w, h), colours[i % 3]) for i in range(frames)]
    return _save(imgs[0], "GIF", save_all=True, append_images=imgs[1:], duration=100, loop=0)


@lru_cache(maxsize=4)
def bmp_bytes(seed: int = 0) -> bytes:
    return _save(image(seed), "BMP")


@lru_cache(maxsize=4)
def tiff_bytes(seed: int = 0) -> bytes:
    return _save(image(seed), "TIFF")


@lru_cache(maxsize=4)
def webp_bytes(seed: int = 0) -> bytes:
    """A lossless WebP of ``image(seed)``."""
    return _save(image(seed), "WEBP", lossless=True)


@lru_cache(maxsize=4)
def truncated_jpeg_bytes(seed: int = 0) -> bytes:
    data = jpeg_bytes(seed=seed)
    return data[: len(data) // 2]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


@lru_cache(maxsize=2)
def png_bomb_bytes(megapixels: int = 400) -> bytes:
    """A valid 1-bit PNG of about ``megapixels`` million black pixels, a few tens of KB on disk."""
    side = int(math.isqrt(megapixels * 1_000_000))
    row = bytes(1 + (side + 7) // 8)
    block = row * max(1, (1 << 20) // len(row))
    rows_per_block = len(block) // len(row)
    packer, parts, left = zlib.compressobj(9), [], side
    while left > 0:
        n = min(left, rows_per_block)
        parts.append(packer.compress(block[: n * len(row)]))
        left -= n
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    chunks = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def html_bytes() -> bytes:
    return b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not here</body></html>\n"


def wav_samples(seconds: float = 1.0, sr: int = 16000, channels: int = 2, freq: float = 440.0) -> np.ndarray:
    """int16 samples (N, channels): channel ``c`` is a sine at ``freq * (c + 1)``, amplitude 0.5."""
    t = np.arange(int(round(seconds * sr))) / sr
    waves = [0.5 * np.sin(2 * np.pi * freq * (c + 1) * t) for c in range(channels)]
    return np.round(np.stack(waves, axis=1) * 32767).astype(np.int16)


@lru_cache(maxsize=16)
def wav_bytes(seconds: float = 1.0, sr: int = 16000, channels: int = 2, freq: float = 440.0) -> bytes:
    """A 16-bit PCM WAV of ``wav_samples(...)``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sr)
        out.writeframes(wav_samples(seconds, sr, channels, freq).tobytes())
    return buf.getvalue()


def _encode_audio(fmt: str, codec: str, seconds: float, sr: int, channels: int, **options) -> bytes:
    import av

    samples = wav_samples(seconds, sr, channels)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=sr, layout="mono" if channels == 1 else "stereo", options=options)
        _write_audio(container, stream, samples, sr)
    return buf.getvalue()


def _write_audio(container, stream, samples: np.ndarray, sr: int, chunk: int = 1024) -> None:
    import av

    layout = "mono" if samples.shape[1] == 1 else "stereo"
    for start in range(0, len(samples), chunk):
        part = np.ascontiguousarray(samples[start:start + chunk]).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(part, format="s16", layout=layout)
        frame.sample_rate, frame.pts = sr, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


@lru_cache(maxsize=4)
def flac_bytes(seconds: float = 1.0, sr: int = 16000, channels: int = 2) -> bytes:
    return _encode_audio("flac", "flac", seconds, sr, channels)


@lru_cache(maxsize=4)
def mp3_bytes(seconds: float = 1.0, sr: int = 16000, channels: int = 2) -> bytes:
    return _encode_audio("mp3", "libmp3lame", seconds, sr, channels)


@lru_cache(maxsize=4)
def ogg_bytes(seconds: float = 1.0, channels: int = 2) -> bytes:
    """Opus in Ogg (Opus runs at 48 kHz)."""
    return _encode_audio("ogg", "libopus", seconds, 48000, channels)


@lru_cache(maxsize=4)
def m4a_bytes(seconds: float = 1.0, sr: int = 16000, channels: int = 2) -> bytes:
    """AAC in an MP4 container with the ``M4A`` brand."""
    return _encode_audio("ipod", "aac", seconds, sr, channels)


def mp4_frame_levels(frames: int) -> list[int]:
    """The flat grey level of each frame ``mp4_bytes(frames, ...)`` writes (frame index is recoverable)."""
    return [16 + round(i * 220 / max(frames - 1, 1)) for i in range(frames)]


def _encode_video(fmt: str, codec: str, frames: int, fps: int, w: int, h: int, audio_codec: str | None) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        astream = container.add_stream(audio_codec, rate=48000 if audio_codec == "libopus" else 16000,
                                       layout="stereo") if audio_codec else None
        for i, level in enumerate(mp4_frame_levels(frames)):
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), level, np.uint8), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if astream is not None:
            _write_audio(container, astream, wav_samples(frames / fps, astream.rate, 2), astream.rate)
    return buf.getvalue()


@lru_cache(maxsize=16)
def mp4_bytes(frames: int = 10, fps: int = 5, w: int = 64, h: int = 48, with_audio: bool = False) -> bytes:
    """MPEG-4 video in MP4: frame ``i`` is flat grey ``mp4_frame_levels(frames)[i]``; optional AAC stereo track."""
    return _encode_video("mp4", "mpeg4", frames, fps, w, h, "aac" if with_audio else None)


@lru_cache(maxsize=4)
def webm_bytes(frames: int = 10, fps: int = 5, w: int = 64, h: int = 48) -> bytes:
    """VP8 in WebM (the container does not record a frame count)."""
    return _encode_video("webm", "libvpx", frames, fps, w, h, None)


@lru_cache(maxsize=4)
def webm_audio_bytes(seconds: float = 1.0) -> bytes:
    """Audio-only WebM (Opus, 48 kHz stereo)."""
    return _encode_audio("webm", "libopus", seconds, 48000, 2)
