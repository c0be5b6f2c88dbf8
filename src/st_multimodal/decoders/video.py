"""Video with PyAV (no torchcodec needed): sampled frames plus metadata, in upstream's VideoDict shape.

The value is ``{"array": np.uint8 (T, H, W, 3), "video_metadata": dict}`` (the layout transformers'
own PyAV loader returns). The metadata dict has exactly the fields of ``transformers.VideoMetadata``
and describes *the delivered array*: ``total_num_frames == T``, ``frames_indices == range(T)`` and
``fps`` the effective rate of the sampled frames (so ``index / fps`` is each frame's time in the
source), ``duration`` the source's duration. That way a processor that samples frames again from
the array and its metadata (``do_sample_frames=True``) indexes within the array and gets the same
timestamps. With ``limits.video_audio`` and an audio track, the value is the multimodal dict
``{"video": VideoDict, "audio": AudioDict}``.

Frames are counted from the container's metadata, else from demuxed packets (never by decoding);
sampled frames far apart are reached by seeking to the keyframe before them. The sampled frames are
written into one array sized within ``limits.max_item_bytes`` (smaller frames when the source's
would not fit), and ``limits.max_decode_seconds`` is checked at every decoded frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import DecodeError, LimitExceededError, MultimodalInputError, UnsupportedInputError
from ..policy import DEFAULT_DECODE_LIMITS, DecodeLimits
from ..types import FetchedBytes, ResolveContext
from .arrays import image_from_array, to_numpy
from .budget import Deadline, check_item_bytes
from .audio import container_seconds, decode_audio, format_name, media_errors, open_container
from .image import VIDEO_MIN_SIDE, check_pixels, normalize_image
from .sniff import sniff_format

__all__ = ["VideoDecoder", "video_from_frames", "sample_indices", "video_metadata"]

SEEK_AFTER_SECONDS = 2
"""A sampled frame more than this many seconds (of frames) ahead is reached by seeking, not decoding on."""


def _even(total: int, count: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, total - 1, count).round()})


def sample_indices(total: int, fps: float | None, limits: DecodeLimits) -> list[int]:
    """Which of ``total`` frames to keep: ``video_num_frames`` evenly, else one every ``1 / video_fps`` s,
    never more than ``max_video_frames`` (then spread evenly over the whole video)."""
    if total <= 0:
        return []
    cap = min(limits.max_video_frames, total)
    if limits.video_num_frames is not None or not fps:
        return _even(total, min(limits.video_num_frames or cap, cap))
    step = fps / limits.video_fps
    count = int(math.floor((total - 1) / step + 1e-9)) + 1
    if count > cap:
        return _even(total, cap)
    return sorted({min(total - 1, int(math.floor(k * step + 0.5))) for k in range(count)})


def video_metadata(indices: Sequence[int], fps: float | None, duration: float | None,
                   height: int, width: int, backend: str | None) -> dict[str, Any]:
    """The ``transformers.VideoMetadata`` fields for an array holding the frames ``indices`` of a source."""
    span = indices[-1] - indices[0] if len(indices) > 1 else 0
    effective = fps * (len(indices) - 1) / span if fps and span else fps
    return {"total_num_frames": len(indices), "fps": None if effective is None else float(effective),
            "duration": None if duration is None else float(duration), "frames_indices": list(range(len(indices))),
            "width": int(width), "height": int(height), "video_backend": backend}


def _check_budget(count: int, height: int, width: int, limits: DecodeLimits) -> None:
    check_pixels((width, height), limits, "video frame", min_side=VIDEO_MIN_SIDE)
    elements = count * height * width * 3
    if elements > limits.max_array_elements:
        raise LimitExceededError("sampled video frames are too large", limit_name="max_array_elements",
                                 limit=limits.max_array_elements, actual=elements)


def _check_seconds(seconds: float | None, limits: DecodeLimits) -> None:
    if seconds is not None and seconds > limits.max_video_seconds:
        raise LimitExceededError("video is too long", limit_name="max_video_seconds",
                                 limit=limits.max_video_seconds, actual=round(seconds, 3))


def _count_frames(data: bytes, limits: DecodeLimits, deadline: Deadline) -> int:
    """Frame count from demuxed packets (no decoding), for containers that do not record it."""
    with open_container(data) as container:
        stream = container.streams.video[0]
        count = 0
        for packet in container.demux(stream):
            if packet.size:
                count += 1
                if count % 256 == 0:
                    deadline.check("the video's frame count")
                if packet.pts is not None and packet.time_base is not None:
                    _check_seconds(float(packet.pts * packet.time_base), limits)
        return count


def _output_size(count: int, height: int, width: int, limits: DecodeLimits) -> tuple[int, int]:
    """The frame size the sampled frames are delivered at: the source's, or smaller so they fit ``max_item_bytes``.

    One decoded source frame (counted at 3 bytes a pixel) must fit in half the budget; the delivered
    frames and one conversion buffer share the rest.
    """
    source = height * width * 3
    check_item_bytes(2 * source, limits, f"a {width}x{height} video frame")
    room = limits.max_item_bytes - source
    if (count + 1) * source <= room:
        return height, width
    scale = math.sqrt(room / ((count + 1) * source))
    return max(1, int(height * scale)), max(1, int(width * scale))


def _seek_gap(fps: float | None) -> int:
    """Frames ahead beyond which seeking to the next sampled frame beats decoding on to it."""
    return max(SEEK_AFTER_SECONDS * int(fps or 25), 16)


def _take(frame: Any, out: np.ndarray, slot: int) -> None:
    height, width = out.shape[1:3]
    if frame.width == width and frame.height == height:  # the same conversion, without a size to check
        out[slot] = frame.to_ndarray(format="rgb24")
    else:
        out[slot] = frame.to_ndarray(format="rgb24", width=width, height=height)


class _NotEvenlyTimed(Exception):
    """A frame found by its timestamp is not the one counting frames finds: decode by counting instead."""


class _Index:
    """What the container's index says about keyframes (nothing, when it has no index)."""

    def __init__(self, stream: Any, total: int) -> None:
        self.total, self.entries = total, stream.index_entries
        self.start = int(stream.start_time or 0)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.step = 1 / (Fraction(rate) * Fraction(stream.time_base))  # one frame in time-base units, exactly
        self._even: bool | None = None

    def timestamp(self, index: int) -> int:
        """Frame ``index``'s timestamp (stream time base) at the nominal frame rate."""
        return self.start + round(index * self.step)

    def keyframe_before(self, index: int) -> int | None:
        """The timestamp of the last keyframe at or before frame ``index`` (None: unknown)."""
        if not len(self.entries):
            return None
        found = self.entries.search_timestamp(self.timestamp(index), backward=True)
        return None if found < 0 else int(self.entries[found].timestamp)

    def evenly_timed(self) -> bool:
        """True when the index lists every frame, one frame duration apart (so frame ``i`` is at ``i / fps``)."""
        if self._even is None:
            stamps = [entry.timestamp for entry in self.entries] if len(self.entries) == self.total else []
            self._even = (len(stamps) > 1 and self.step.denominator == 1 and stamps[0] == self.start
                          and all(b - a == self.step for a, b in zip(stamps, stamps[1:])))
        return self._even


def _decode_frames(container: Any, indices: list[int], fps: float | None, out: np.ndarray,
                   limits: DecodeLimits, deadline: Deadline, seek: bool = True, total: int = 0) -> int:
    """Write the sampled frames into ``out``; returns how many were decoded.

    From the start, frames are counted as they decode. When the next sampled frame lies more than
    ``_seek_gap`` frames ahead and the frame rate is known, the decoder seeks to the keyframe before
    its timestamp (``index / fps``) and decodes from there to it, so a long video costs about one
    group of pictures per sampled frame, not every frame up to the last. It seeks sooner, as soon as
    a keyframe lies between the last decoded frame and the next sampled one, when the container's index
    shows every frame one frame duration apart: then the frame at ``index / fps`` is the one counting
    finds (and each such frame is checked to be; if one is not, the caller decodes by counting).
    """
    stream = container.streams.video[0]
    frames, position, last_pts = container.decode(stream), -1, None
    index_info = _Index(stream, total) if seek and fps and stream.time_base else None
    for slot, index in enumerate(indices):
        if index_info is not None:
            if index - position > _seek_gap(fps):
                return slot + _seek_frames(container, stream, indices[slot:], fps, out, slot, limits, deadline,
                                           index_info, exact=False)
            keyframe = index_info.keyframe_before(index) if last_pts is not None else None
            if keyframe is not None and keyframe > last_pts and index_info.evenly_timed():
                return slot + _seek_frames(container, stream, indices[slot:], fps, out, slot, limits, deadline,
                                           index_info, exact=True)
        for frame in frames:
            deadline.check("the video")
            position += 1
            last_pts = frame.pts
            if frame.time is not None:
                _check_seconds(frame.time, limits)
            if position == index:
                _take(frame, out, slot)
                break
        else:
            return slot
    return len(indices)


def _seek_frames(container: Any, stream: Any, indices: list[int], fps: float, out: np.ndarray, first_slot: int,
                 limits: DecodeLimits, deadline: Deadline, index_info: _Index, exact: bool) -> int:
    """Each sampled frame by seeking to the keyframe before its timestamp, then decoding up to it; a frame
    whose keyframe the decoder has already passed is decoded on to instead (the same frame, fewer decoded).
    With ``exact``, a frame more than half a frame duration from its nominal time raises _NotEvenlyTimed."""
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    half = 0.5 / fps
    done, frames, last_pts = 0, None, None
    for offset, index in enumerate(indices):
        target = start + index / fps
        keyframe = index_info.keyframe_before(index) if frames is not None and last_pts is not None else None
        if keyframe is not None and keyframe <= last_pts:
            frame = _frame_from(frames, target, half, deadline)
        else:
            frame, frames = _frame_at(container, stream, target, start, half, deadline)
        if frame is None:
            break
        if exact and (frame.time is None or abs(frame.time - target) >= half):
            raise _NotEvenlyTimed()
        last_pts = frame.pts
        _check_seconds(frame.time, limits)
        _take(frame, out, first_slot + offset)
        done += 1
    return done


def _frame_from(frames: Any, target: float, half: float, deadline: Deadline) -> Any:
    """The first frame still to come from ``frames`` at or after ``target`` seconds (None: none left)."""
    for frame in frames:
        deadline.check("the video")
        if frame.time is None or frame.time >= target - half:
            return frame
    return None


def _frame_at(container: Any, stream: Any, target: float, start: float, half: float, deadline: Deadline) -> Any:
    """The first frame at or after ``target`` seconds, seeking further back while a seek lands past it,
    and the decoding it came from (to decode on)."""
    back = 0.0
    while True:
        container.seek(int(max(target - back, start) / stream.time_base), stream=stream, backward=True,
                       any_frame=False)
        first = True
        frames = container.decode(stream)
        for frame in frames:
            deadline.check("the video")
            if first and frame.time is not None and frame.time > target + half and target - back > start:
                break  # landed past the target (no exact index): back off and seek again
            first = False
            if frame.time is None or frame.time >= target - half:
                return frame, frames
        else:
            return None, None
        back = max(2 * back, float(SEEK_AFTER_SECONDS))


def _decode_video(data: bytes, limits: DecodeLimits, deadline: Deadline) -> dict[str, Any]:
    with open_container(data) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else None
        seconds = container_seconds(container, stream)
        height, width, total = int(stream.height or 0), int(stream.width or 0), int(stream.frames or 0)
        _check_seconds(seconds, limits)
        if not height or not width:
            raise DecodeError("the video stream does not state its frame size")
        total = total or _count_frames(data, limits, deadline)
        indices = sample_indices(total, fps, limits)
        if not indices:
            raise DecodeError("the video stream holds no frames")
        _check_budget(len(indices), height, width, limits)
        out = np.empty((len(indices), *_output_size(len(indices), height, width, limits), 3), np.uint8)
        try:
            decoded = _decode_frames(container, indices, fps, out, limits, deadline, total=total)
        except MultimodalInputError:
            raise
        except Exception:  # a container that cannot seek: decode on from the start instead
            decoded = None
    if decoded is None:
        with open_container(data) as container:
            decoded = _decode_frames(container, indices, fps, out, limits, deadline, seek=False)
    if not decoded:
        raise DecodeError("no frame of the video could be decoded")
    duration = seconds if seconds is not None else (total / fps if fps else None)
    meta = video_metadata(indices[:decoded], fps, duration, out.shape[1], out.shape[2], "pyav")
    return {"array": out[:decoded], "video_metadata": meta}


def _frame_pixels(frame: Any, limits: DecodeLimits) -> np.ndarray:
    if hasattr(frame, "getpixel"):
        return np.asarray(normalize_image(frame, limits))
    return np.asarray(image_from_array(frame, limits=limits))


def video_from_frames(frames: Any, fps: float | None = None,
                      limits: DecodeLimits = DEFAULT_DECODE_LIMITS) -> dict[str, Any]:
    """A VideoDict from a list of PIL images / arrays (or a (T, H, W, C) array), sampled like a decoded video."""
    if hasattr(frames, "ndim"):
        frames = list(to_numpy(frames, limits))
    if not isinstance(frames, (list, tuple)) or not frames:
        raise UnsupportedInputError("a video needs a non-empty list of frames (PIL images or arrays)")
    if fps is not None and not fps > 0:
        raise UnsupportedInputError(f"fps must be > 0, got {fps!r}")
    indices = sample_indices(len(frames), fps, limits)
    pixels = [_frame_pixels(frames[i], limits) for i in indices]
    if len({p.shape for p in pixels}) > 1:
        raise UnsupportedInputError(f"video frames differ in size: {sorted({p.shape for p in pixels})}")
    height, width = pixels[0].shape[:2]
    _check_budget(len(pixels), height, width, limits)
    duration = len(frames) / fps if fps else None
    meta = video_metadata(indices, fps, duration, height, width, None)
    return {"array": np.stack(pixels), "video_metadata": meta}


class VideoDecoder:
    """MP4/MOV, WebM/Matroska, AVI, FLV, ... to a VideoDict (audio-only files go to the audio decoder)."""

    modality = "video"
    mime_prefixes = ("video/",)
    extensions = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".flv", ".wmv", ".mpg", ".mpeg", ".ts",
                  ".3gp", ".ogv")

    def accept(self, prefix: bytes) -> bool:
        return sniff_format(prefix, "video") is not None

    def decode(self, fetched: FetchedBytes, ctx: ResolveContext) -> tuple[Any, tuple[int, ...], str]:
        with open_container(fetched.data) as container:
            fmt = format_name(container, fetched.data)
            has_video, has_audio = bool(container.streams.video), bool(container.streams.audio)
        if not has_video:
            if has_audio:
                from .audio import AudioDecoder

                return AudioDecoder().decode(fetched, ctx)
            raise DecodeError(f"the {fmt} file holds no video stream")
        deadline = Deadline(ctx.limits)
        with media_errors(f"{fmt} video"):
            video = _decode_video(fetched.data, ctx.limits, deadline)
            audio = self._audio(fetched.data, ctx, deadline) if ctx.limits.video_audio and has_audio else None
        size = tuple(video["array"].shape[:3])
        return ({"video": video, "audio": audio} if audio else video), size, fmt

    @staticmethod
    def _audio(data: bytes, ctx: ResolveContext, deadline: Deadline) -> dict[str, Any]:
        with open_container(data) as container:
            return decode_audio(container, ctx, deadline)
