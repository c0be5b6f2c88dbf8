"""Audio with PyAV (bundled FFmpeg): any container/codec it reads, to a mono float32 AudioDict.

The duration limit is checked from the container's metadata before decoding when it is known, and
enforced again while decoding. Decoding is streamed: decoded frames are held as they come (views of
their planes) and, per chunk of 64 Ki source samples, scaled by their dtype, downmixed and fed to one
resampler, so only the model-rate signal is kept (within ``max_item_bytes``) and never the whole
source-rate decode; with a crop from the start, decoding stops at the model's window. The scaling,
libswresample and the crop are those of in-memory arrays (:mod:`.arrays`): scaling and downmixing are
elementwise and a resampler fed in chunks gives the samples of one fed at once, so a WAV file and its
samples agree. The container is opened closed to everything but its bytes (:mod:`.ffmpeg`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import DecodeError, LimitExceededError, MissingDependencyError, MultimodalInputError
from ..policy import DecodeLimits
from ..types import FetchedBytes, ResolveContext
from .arrays import MAX_SAMPLING_RATE, check_audio_seconds, scale_audio
from .budget import Deadline, check_item_bytes
from .ffmpeg import open_closed
from .sniff import sniff_format

__all__ = ["AudioDecoder", "open_container", "decode_audio", "container_seconds", "format_name",
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


_DTYPES = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}
"""The sample formats PyAV converts to numpy (``AudioFrame.to_ndarray``), interleaved or planar (``...p``)."""


def _mono(planes: list[np.ndarray], channels: int, planar: bool) -> np.ndarray:
    """Decoded samples (one array per channel if ``planar``, else one interleaved array) as mono float32:
    scaled by sample dtype, then averaged over channels.

    Stereo is ``(left + right) / 2`` in float32, which is what numpy's float32 mean over two channels
    computes (one rounded addition, an exact halving), without a strided reduction over interleaved samples;
    more channels go through that mean on the layout ``to_ndarray`` gives.
    """
    scaled = [scale_audio(plane) for plane in planes]  # elementwise: the same before or after de-interleaving
    if channels == 1:
        return scaled[0]
    if channels == 2:
        left, right = scaled if planar else (scaled[0][0::2], scaled[0][1::2])
        mono = np.add(left, right, dtype=np.float32)
        mono /= np.float32(2)
        return mono
    stacked = np.stack(scaled) if planar else scaled[0].reshape(-1, channels).T
    return stacked.mean(axis=0, dtype=np.float32)


class _ResampledSink:
    """Mono chunks at the source rate in, kept at the target rate: resampled as they come, within the item budget."""

    def __init__(self, rate: int, target: int, keep: int | None, limits: DecodeLimits) -> None:
        self.rate, self.target, self.keep, self.limits = rate, target, keep, limits
        self.chunks: list[np.ndarray] = []
        self.kept = 0
        self.resampler = None
        if rate != target:
            self.resampler = _av().AudioResampler(format="fltp", layout="mono", rate=int(target))

    @property
    def full(self) -> bool:
        """True once the kept samples cover the window (with a crop from the start)."""
        return self.keep is not None and self.kept >= self.keep

    def add(self, mono: np.ndarray | None) -> None:
        """Resample and keep one chunk (None flushes the resampler)."""
        if self.resampler is None:
            out = [] if mono is None else [mono]
        else:
            frame = None
            if mono is not None:
                frame = _av().AudioFrame.from_ndarray(np.ascontiguousarray(mono[None, :]), format="fltp", layout="mono")
                frame.sample_rate = self.rate
            try:
                out = [f.to_ndarray().reshape(-1) for f in self.resampler.resample(frame)]
            except _av().FFmpegError as exc:
                raise DecodeError(f"cannot resample audio from {self.rate} Hz to {self.target} Hz: {exc}") from exc
        for chunk in out:
            self.chunks.append(chunk.astype(np.float32, copy=False))
            self.kept += chunk.size
        check_item_bytes(2 * 4 * self.kept, self.limits, f"audio resampled to {self.target} Hz")

    def result(self, seconds: float | None, how: str) -> np.ndarray:
        """The kept samples cropped as ``crop_audio(all, target, seconds, how)`` would, joining only the chunks
        the crop keeps."""
        if self.resampler is not None and not self.full:
            self.add(None)
        start, stop = 0, self.kept
        if seconds is not None:
            keep = max(1, int(round(seconds * self.target)))
            if self.kept > keep:
                start = 0 if how == "start" else (self.kept - keep) // 2
                stop = start + keep
        parts, offset = [], 0
        for chunk in self.chunks:
            if offset < stop and offset + chunk.size > start:
                parts.append(chunk[max(0, start - offset):stop - offset])
            offset += chunk.size
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _window(ctx: ResolveContext, target: int) -> int | None:
    """How many target-rate samples suffice when the crop keeps the start (None: all are needed)."""
    if ctx.audio_max_seconds is None or ctx.limits.audio_crop != "start":
        return None
    return max(1, int(round(ctx.audio_max_seconds * target)))


_CHUNK_SAMPLES = 1 << 16
"""Source-rate samples handed to the resampler at once (256 KiB of float32): far fewer calls than one per
frame, and a resampler fed in chunks gives the samples of one fed at once."""


class _SourceFrames:
    """Decoded frames of one sample format and channel count, held as decoded until a chunk is worth converting.

    Scaling and downmixing are elementwise, so converting frames joined gives the samples of converting
    them one by one, at a few numpy calls per chunk instead of per frame (frames hold ~1,000 samples).
    The held arrays are views of the frames' planes (no copy until the chunk is joined).
    """

    def __init__(self) -> None:
        self.planes: list[list[np.ndarray]] = []
        self.key: tuple[str, int, bool] | None = None
        self.dtype: type = np.float32
        self.samples = 0

    def add(self, frame, sink: _ResampledSink) -> None:
        """Hold one frame; frames of another format or channel count first flush the held ones into ``sink``."""
        fmt = frame.format
        channels, planar = frame.layout.nb_channels or 1, fmt.is_planar
        key = (fmt.name, channels, planar)
        if key != self.key:
            self.flush(sink)
            dtype = _DTYPES.get(fmt.name[:-1] if planar else fmt.name)
            if dtype is None:
                raise DecodeError(f"unsupported audio sample format {fmt.name}")
            self.key, self.dtype = key, dtype
            self.planes = [[] for _ in range(channels if planar else 1)]
        planes = frame.planes
        if len(planes) != len(self.planes):
            raise DecodeError(f"audio frame has {len(planes)} planes for {channels} channels")
        count = frame.samples if planar else frame.samples * channels
        for held, plane in zip(self.planes, planes):
            held.append(np.frombuffer(plane, self.dtype, count))
        self.samples += frame.samples

    def flush(self, sink: _ResampledSink) -> None:
        """Convert the held frames to mono, check them and hand them to ``sink``."""
        if not self.samples:
            return
        _, channels, planar = self.key
        joined = [held[0] if len(held) == 1 else np.concatenate(held) for held in self.planes]
        self.planes, self.samples = [[] for _ in self.planes], 0
        mono = _mono(joined, channels, planar)
        if not np.isfinite(mono).all():
            raise DecodeError("audio contains NaN or infinite samples")
        sink.add(mono)


def decode_audio(container, ctx: ResolveContext, deadline: Deadline | None = None) -> dict[str, Any]:
    """The first audio stream as an AudioDict at ``ctx.audio_sampling_rate``, decoded streamed.

    Each frame is downmixed and resampled as it comes, so the source-rate decode is never held whole;
    decoding stops at ``max_audio_seconds``, the item's budgets, or (crop from the start) the model's window.
    """
    limits = ctx.limits
    deadline = deadline or Deadline(limits)
    stream = container.streams.audio[0]
    seconds = container_seconds(container, stream)
    if seconds is not None and seconds > limits.max_audio_seconds:
        raise LimitExceededError("audio is too long", limit_name="max_audio_seconds",
                                 limit=limits.max_audio_seconds, actual=round(seconds, 3))
    sink, total = None, 0
    held = _SourceFrames()
    for frame in container.decode(stream):
        deadline.check("audio")
        if sink is None:
            rate = frame.sample_rate
            if not rate or not 0 < rate <= MAX_SAMPLING_RATE:
                raise DecodeError(f"implausible audio sampling rate {rate} Hz (at most {MAX_SAMPLING_RATE} Hz is accepted)")
            target = int(ctx.audio_sampling_rate or rate)
            sink = _ResampledSink(rate, target, _window(ctx, target), limits)
            near_limit = limits.max_audio_seconds * rate * (1 - 1e-9)
        elif frame.sample_rate != sink.rate:
            raise DecodeError(f"audio sample rate changes mid-stream ({sink.rate} -> {frame.sample_rate})")
        total += frame.samples
        if total > near_limit:  # the exact check (a division) only near the limit
            check_audio_seconds(total, sink.rate, limits)
        held.add(frame, sink)
        if held.samples >= _CHUNK_SAMPLES:
            held.flush(sink)
            if sink.full:
                break
    if sink is None or total == 0:
        raise DecodeError("the audio stream holds no samples")
    held.flush(sink)
    out = sink.result(ctx.audio_max_seconds, limits.audio_crop)
    if out.size == 0:
        raise DecodeError(f"audio of {total} samples at {sink.rate} Hz is empty once resampled to {sink.target} Hz")
    return {"array": np.ascontiguousarray(out, dtype=np.float32), "sampling_rate": sink.target}


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
                audio = decode_audio(container, ctx)
        return audio, (int(audio["array"].size),), fmt
