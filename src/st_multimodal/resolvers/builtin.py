"""The built-in resolvers, one small class per kind of Python value.

Registered in this order (``st_multimodal.RESOLVERS.names()``): resolved, typed, text, pil, array,
bytes, path, location, dict, message, torchcodec, document (``resolvers/documents.py``). Each returns None for values that are not its kind.
"""

from __future__ import annotations

import dataclasses
import io
import os
from typing import Any

from ..errors import DecodeError, UnsupportedInputError, describe_source, describe_text
from ..hashing import hash_bytes, hash_image, hash_text
from ..sources.base import SOURCES, fetch
from ..types import FetchedBytes, Provenance, Resolved, ResolveContext
from .limits import check_text_length
from .strings import is_location

__all__ = [
    "ResolvedResolver",
    "TextResolver",
    "PILResolver",
    "ArrayResolver",
    "BytesResolver",
    "PathResolver",
    "LocationResolver",
    "resolve_fetched",
]


def _is_pil(value: Any) -> bool:
    try:
        from PIL.Image import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        return False
    return isinstance(value, Image)


def _is_array(value: Any) -> bool:
    module = type(value).__module__
    return (module == "numpy" and hasattr(value, "shape")) or (module.startswith("torch") and hasattr(value, "shape"))


def resolve_fetched(fetched: FetchedBytes, ctx: ResolveContext) -> Resolved:
    """Sniff fetched bytes and return a Resolved whose decode is deferred until ``materialize()``."""
    from ..decoders import choose_decoder, modality_of

    decoder = choose_decoder(fetched)
    provenance = Provenance(
        source=fetched.source, content_hash=hash_bytes(fetched.data), num_bytes=len(fetched.data), mime=fetched.mime
    )

    def load() -> Resolved:
        value, decoded_size, format_name = decoder.decode(fetched, ctx)
        decoded = dataclasses.replace(provenance, decoded_size=tuple(decoded_size), mime=format_name)
        return Resolved(modality_of(value, decoder.modality), value, decoded)

    decode_tensor = getattr(decoder, "decode_tensor", None)

    def load_tensor() -> Resolved | None:
        out = decode_tensor(fetched, ctx)
        if out is None:
            return None
        value, decoded_size, format_name = out
        return Resolved("image", value, dataclasses.replace(provenance, decoded_size=tuple(decoded_size), mime=format_name))

    return Resolved(decoder.modality, None, provenance, loader=load, tensor_loader=load_tensor if decode_tensor else None)


def image_resolved(image: Any, ctx: ResolveContext, source: str) -> Resolved:
    """A PIL image normalised exactly like a decoded file (EXIF, alpha, mode)."""
    from ..decoders import normalize_image

    content_hash = hash_image(image)
    rgb = normalize_image(image, ctx.limits)
    return Resolved("image", rgb, Provenance(source=source, content_hash=content_hash, decoded_size=rgb.size))


class ResolvedResolver:
    """Values that are already resolved and decoded (a ``Resolved``): passed through as they are."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        return value if isinstance(value, Resolved) and value.is_materialized else None


class TextResolver:
    """Strings that are text, by the rules of ``resolvers.strings`` (all strings in strict mode)."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        if not isinstance(value, str) or is_location(value, strict=ctx.strict):
            return None
        check_text_length(value, ctx.limits)
        provenance = Provenance(source=describe_text(value), content_hash=hash_text(value), num_bytes=len(value.encode("utf-8", "surrogatepass")))
        return Resolved("text", value, provenance)


class PILResolver:
    """PIL images, normalised like decoded files so every form of one picture embeds the same."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        if not _is_pil(value):
            return None
        pixels = value.size[0] * value.size[1]
        if pixels > ctx.limits.max_pixels:
            from ..errors import LimitExceededError

            raise LimitExceededError("image is too large", limit_name="max_pixels", limit=ctx.limits.max_pixels, actual=pixels)
        return image_resolved(value, ctx, describe_source(value))


class ArrayResolver:
    """numpy arrays and torch tensors: unambiguous 3-D images only; anything else asks for explicit typing."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        if not _is_array(value):
            return None
        if getattr(value.dtype, "kind", None) in ("U", "S", "O"):
            raise UnsupportedInputError(f"array of dtype {value.dtype} is not media; pass its items as a list")
        ndim = len(value.shape)
        if ndim == 3:
            return array_image(value, ctx, layout=None)
        hint = {
            1: "a 1-D array could be audio: use st_multimodal.as_audio(x, sampling_rate=...)",
            2: "a 2-D array could be a grayscale image or multi-channel audio: use as_image(x, layout='HW') or as_audio(x, sampling_rate=...)",
            4: "a 4-D array could be a video or a batch of images: use as_video(x, fps=...) or pass the images as a list",
        }.get(ndim, f"arrays with {ndim} dimensions are not media")
        raise UnsupportedInputError(f"ambiguous array of shape {tuple(value.shape)} and dtype {value.dtype}: {hint}")


def array_image(value: Any, ctx: ResolveContext, layout: str | None) -> Resolved:
    from ..decoders import image_from_array

    image = image_from_array(value, layout=layout, limits=ctx.limits)
    return image_resolved(image, ctx, describe_source(value))


class BytesResolver:
    """bytes, bytearray, memoryview and binary file objects, recognised by their magic bytes."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        if isinstance(value, (bytes, bytearray, memoryview)):
            _check_size(value.nbytes if isinstance(value, memoryview) else len(value), ctx)  # before the copy
            data = bytes(value)
        elif isinstance(value, io.IOBase) or (hasattr(value, "read") and hasattr(value, "seek")):
            data = _read_binary(value, ctx)
        else:
            return None
        _check_size(len(data), ctx)
        name = getattr(value, "name", None)
        return resolve_fetched(FetchedBytes(data=data, source=describe_source(value), name=name if isinstance(name, str) else None), ctx)


def _read_binary(stream: Any, ctx: ResolveContext) -> bytes:
    data = stream.read(ctx.fetch_policy.max_bytes + 1)
    if isinstance(data, str):
        raise UnsupportedInputError("file object is open in text mode; open it with 'rb'")
    return data


def _check_size(size: int, ctx: ResolveContext) -> None:
    if size > ctx.fetch_policy.max_bytes:
        from ..errors import LimitExceededError

        raise LimitExceededError("input is too large", limit_name="max_bytes", limit=ctx.fetch_policy.max_bytes, actual=size)
    if size == 0:
        raise DecodeError("empty input: no bytes to decode")


class PathResolver:
    """``os.PathLike`` values (``pathlib.Path`` and friends): always local files."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        if not isinstance(value, os.PathLike):
            return None
        return resolve_fetched(SOURCES.get("file").fetch(os.fspath(value), ctx), ctx)


class LocationResolver:
    """Strings naming a location: paths, ``file://``, ``http(s)://``, ``data:`` and fsspec schemes."""

    def resolve(self, value: Any, ctx: ResolveContext) -> Resolved | None:
        if not isinstance(value, str) or not is_location(value, strict=ctx.strict):
            return None
        return resolve_fetched(fetch(value, ctx), ctx)
