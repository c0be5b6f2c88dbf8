"""Audio and video corpora for the benchmarks, generated with PyAV and kept on disk (made once per size).

Every file has its own content (seeded tones and noise; moving shapes), so no cache can answer one file
from another. Nothing is downloaded.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["make_audio_files", "make_videos", "video_codec"]

AUDIO_VERSION = "1"
VIDEO_VERSION = "1"


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def _audio_samples(seed: int, seconds: float, sr: int) -> np.ndarray:
    """Stereo s16 ``(samples, 2)``: a seeded chord with a slow tremolo and some noise."""
    rng = np.random.default_rng([7, seed])
    t = np.arange(int(seconds * sr), dtype=np.float64) / sr
    freqs = rng.uniform(110, 1760, 3)
    left = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in freqs) / 3
    right = sum(np.sin(2 * np.pi * f * 1.01 * t) for f in freqs) / 3
    tremolo = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 2) * t)
    stereo = np.stack([left, right], 1) * tremolo[:, None] + rng.normal(0, 0.02, (len(t), 2))
    return (np.clip(stereo, -1, 1) * 20000).astype(np.int16)


def _encode_audio(path: Path, fmt: str, samples: np.ndarray, sr: int) -> None:
    import av

    codec = {"mp3": "libmp3lame", "flac": "flac", "ogg": "vorbis"}[fmt]
    options = {"strict": "experimental"} if codec == "vorbis" else {}
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=sr, layout="stereo", options=options)
        if codec == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}
        chunk = 1152 if codec == "libmp3lame" else 1024
        src_format = "fltp" if codec == "vorbis" else "s16"
        for start in range(0, len(samples), chunk):
            part = samples[start:start + chunk]
            if src_format == "fltp":
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(part.T.astype(np.float32) / 32768), format="fltp",
                                                   layout="stereo")
            else:
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(part).reshape(1, -1), format="s16", layout="stereo")
            frame.sample_rate, frame.pts = sr, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def make_audio_files(folder: str | os.PathLike, n: int, *, seconds: float = 30.0, sr: int = 44_100,
                     formats: tuple[str, ...] = ("mp3", "flac", "ogg"), seed: int = 0) -> list[str]:
    """``n`` stereo files at ``sr``, cycling through ``formats``; file ``i`` of corpus ``seed`` has its own content."""
    folder = Path(folder) / f"audio-v{AUDIO_VERSION}-{seconds:g}s-{sr}-s{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        fmt = formats[i % len(formats)]
        path = folder / f"clip{i:04d}.{fmt}"
        if not path.exists():
            tmp = _tmp(path)
            _encode_audio(tmp, fmt, _audio_samples(seed * 100_003 + i, seconds, sr), sr)
            os.replace(tmp, path)
        paths.append(str(path))
    return paths


def video_codec() -> str:
    """H.264 (libx264) where the local PyAV can write it, else MPEG-4 Part 2."""
    import av

    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except Exception:  # noqa: BLE001 - any failure means: not available
        return "mpeg4"


def make_videos(folder: str | os.PathLike, n: int, *, seconds: float, fps: int = 24, w: int = 1280, h: int = 720,
                gop_s: float = 2.0, seed: int = 0) -> list[str]:
    """``n`` MP4 files (``w`` x ``h``, ``fps``, a keyframe every ``gop_s`` seconds): a gradient with a moving block."""
    import av

    codec = video_codec()
    folder = Path(folder) / f"video-v{VIDEO_VERSION}-{codec}-{w}x{h}-{fps}fps-{seconds:g}s-s{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:h, 0:w]
    paths = []
    for i in range(n):
        path = folder / f"video{i:03d}.mp4"
        if not path.exists():
            rng = np.random.default_rng([11, seed, i])
            base = np.stack([(x * 255 // w), (y * 255 // h), np.full_like(x, int(rng.integers(0, 255)))], -1).astype(np.uint8)
            colour = rng.integers(0, 255, 3).astype(np.uint8)
            tmp = _tmp(path)
            with av.open(str(tmp), "w", format="mp4") as container:
                stream = container.add_stream(codec, rate=fps)
                stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                stream.time_base = Fraction(1, fps)
                stream.codec_context.gop_size = max(1, int(gop_s * fps))
                if codec == "libx264":
                    stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
                for f in range(int(seconds * fps)):
                    frame_pixels = base.copy()
                    bx = (f * 7) % (w - 80)
                    by = (f * 3) % (h - 80)
                    frame_pixels[by:by + 80, bx:bx + 80] = colour
                    frame = av.VideoFrame.from_ndarray(frame_pixels, format="rgb24")
                    frame.pts = f
                    container.mux(stream.encode(frame))
                container.mux(stream.encode(None))
            os.replace(tmp, path)
        paths.append(str(path))
    return paths
