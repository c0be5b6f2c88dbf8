"""Resolvers for structured values: typed wrappers, dicts (audio, video, multimodal, HF datasets), messages, torchcodec."""

from __future__ import annotations

import os
from typing import Any

from ..errors import DecodeError, UnsupportedInputError, describe_source
from ..hashing import hash_array, hash_text
from ..types import Provenance, Resolved, ResolveContext
from .base import resolve as resolve_value
from .builtin import _is_array, array_image, resolve_fetched
from .documents import not_expanded_error
from .limits import check_text_length, nested
from .typed import TypedInput

__all__ = ["TypedResolver", "DictResolver", "MessageResolver", "TorchcodecResolver"]

MULTIMODAL_KEYS = ("text", "image", "audio", "video")


def _check_modality(resolved: Resolved, expected: str) -> Resolved:
    if resolved.modality != expected:
        raise DecodeError(f"expected {expected}, but the content is {resolved.modality} ({resolved.provenance.mime or 'unknown format'})")
    return resolved


def audio_resolved(array: Any, sampling_rate: int | None, ctx: ResolveContext, source: str) -> Resolved:
    from ..decoders import audio_from_array

    if sampling_rate is None:
        raise UnsupportedInputError("audio arrays need their sampling rate: use as_audio(x, sampling_rate=...) or {'array': x, 'sampling_rate': sr}")
    content_hash = hash_array(array)
    audio = audio_from_array(array, int(sampling_rate), ctx)
    return Resolved("audio", audio, Provenance(source=source, content_hash=content_hash, decoded_size=(len(audio["array"]),)))


def video_resolved(frames: Any, fps: float | None, ctx: ResolveContext, source: str, metadata: Any = None) -> Resolved:
    from ..decoders import video_from_frames

    video = video_from_frames(frames, fps=fps, limits=ctx.limits)
    if metadata is not None and video.get("video_metadata") is None:
        video["video_metadata"] = metadata
    array = video["array"]
    return Resolved("video", video, Provenance(source=source, content_hash=hash_array(array), decoded_size=tuple(array.shape[:3])))


class TypedResolver:
    """Values wrapped by ``as_text`` / ``as_image`` / ``as_audio`` / ``as_video``: the stated modality wins."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        if not isinstance(value, TypedInput):
            return None
        inner, options, source = value.value, value.options, describe_source(value.value)
        if value.modality == "document":
            raise not_expanded_error()
        if value.modality == "text":
            if not isinstance(inner, str):
                raise UnsupportedInputError(f"as_text() takes a str, got {type(inner).__name__}")
            check_text_length(inner, ctx.limits)
            return Resolved("text", inner, Provenance(source=source, content_hash=hash_text(inner)))
        if value.modality == "image" and _is_array(inner):
            return array_image(inner, ctx, layout=options.get("layout"))
        if value.modality == "audio" and _is_array(inner):
            return audio_resolved(inner, options.get("sampling_rate"), ctx, source)
        if value.modality == "video" and (_is_array(inner) or isinstance(inner, (list, tuple))):
            return video_resolved(inner, options.get("fps"), ctx, source)
        if isinstance(inner, str):  # a stated media string is always a location, never text
            from ..sources.base import fetch

            resolved = resolve_fetched(fetch(inner, ctx), ctx)
        else:
            with nested(ctx.limits):
                resolved = resolve_value(inner, ctx)
        return _check_modality(resolved, value.modality)


class DictResolver:
    """Dicts: AudioDict, VideoDict, HF datasets' undecoded ``{"bytes", "path"}``, and multimodal dicts."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        if not isinstance(value, dict) or "role" in value:
            return None
        keys = set(value)
        if "array" in keys and "sampling_rate" in keys:
            return audio_resolved(value["array"], value["sampling_rate"], ctx, value.get("path") or describe_source(value["array"]))
        if "array" in keys and "video_metadata" in keys:
            return video_resolved(value["array"], _fps_of(value["video_metadata"]), ctx, describe_source(value["array"]), value["video_metadata"])
        if keys and keys <= {"bytes", "path"}:
            return self._datasets_file(value, ctx)
        if keys and keys <= set(MULTIMODAL_KEYS):
            return self._multimodal(value, ctx)
        raise UnsupportedInputError(
            f"dict with keys {sorted(keys)} is not a known input: expected audio {{'array', 'sampling_rate'}}, "
            f"video {{'array', 'video_metadata'}}, or a multimodal dict with keys from {list(MULTIMODAL_KEYS)}"
        )

    def _datasets_file(self, value: dict, ctx: ResolveContext) -> Resolved:
        if value.get("bytes") is not None:
            with nested(ctx.limits):
                return resolve_value(value["bytes"], ctx)
        if value.get("path"):
            with nested(ctx.limits):
                return resolve_value(os.fspath(value["path"]) if not isinstance(value["path"], str) else _as_path(value["path"]), ctx)
        raise UnsupportedInputError("datasets value has neither bytes nor path")

    def _multimodal(self, value: dict, ctx: ResolveContext) -> Resolved:
        parts: dict[str, Any] = {}
        for key in MULTIMODAL_KEYS:
            if key not in value:
                continue
            part = value[key]
            if isinstance(part, (list, tuple)) and key != "video":
                raise UnsupportedInputError(
                    f"multimodal dict holds a list under {key!r}: one input takes one {key}; "
                    "pass several inputs, or a chat message list for several media in one input"
                )
            with nested(ctx.limits):
                parts[key] = resolve_value(TypedInput(key, part), ctx).materialize().value
        modality = tuple(sorted(parts))
        if len(modality) == 1:
            return Resolved(modality[0], parts[modality[0]], Provenance(source=describe_source(value)))
        return Resolved(modality, parts, Provenance(source=describe_source(value)))


def _as_path(path: str):
    from pathlib import Path

    return Path(path)


def _fps_of(metadata: Any) -> float | None:
    if metadata is None:
        return None
    fps = metadata.get("fps") if isinstance(metadata, dict) else getattr(metadata, "fps", None)
    return float(fps) if fps else None


class MessageResolver:
    """Chat messages (a dict with ``role``/``content`` or a list of them); media inside ``content`` are resolved."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        messages = [value] if isinstance(value, dict) and "role" in value else value
        if not (isinstance(messages, list) and messages and all(isinstance(m, dict) and "role" in m for m in messages)):
            return None
        resolved = [self._message(m, ctx) for m in messages]
        return Resolved("message", resolved, Provenance(source=describe_source(value)))

    def _message(self, message: dict, ctx: ResolveContext) -> dict:
        content = message.get("content")
        if isinstance(content, str):
            check_text_length(content, ctx.limits)
        if not isinstance(content, list):
            return dict(message)
        items = []
        for item in content:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "text" and isinstance(item.get("text"), str):
                check_text_length(item["text"], ctx.limits)
            if kind in ("image", "audio", "video") and kind in item:
                with nested(ctx.limits):
                    item = {**item, kind: resolve_value(TypedInput(kind, item[kind]), ctx).materialize().value}
            items.append(item)
        return {**message, "content": items}


class TorchcodecResolver:
    """torchcodec ``AudioDecoder`` / ``VideoDecoder`` objects (as HF datasets >= 4 returns them)."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        kind = type(value).__name__
        if not type(value).__module__.startswith("torchcodec"):
            return None
        source = describe_source(value)
        if kind == "AudioDecoder":
            samples = value.get_all_samples()
            return audio_resolved(samples.data, samples.sample_rate, ctx, source)
        if kind == "VideoDecoder":
            metadata = value.metadata
            fps = float(getattr(metadata, "average_fps", 0) or 0) or None
            total = len(value)
            from ..decoders.video import sample_indices

            indices = sample_indices(total, fps, ctx.limits)
            frames = value.get_frames_at(indices=indices).data  # (T, C, H, W) uint8
            sampled_fps = len(indices) * fps / total if fps else None  # the rate of the frames kept
            return video_resolved(frames.permute(0, 2, 3, 1), sampled_fps, ctx, source)
        raise UnsupportedInputError(f"unsupported torchcodec object {kind}")
