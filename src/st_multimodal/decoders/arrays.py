"""In-memory arrays (numpy, torch) to images and audio, explicit about layout and dtype.

Nothing is guessed silently: an image's channel axis is taken from ``layout=`` or inferred only when
exactly one end of the shape has 1, 3 or 4 entries; audio needs its sampling rate; ambiguous shapes
are refused with a message that says how to make them explicit.

Resampling uses PyAV's ``AudioResampler`` (FFmpeg's libswresample, a windowed-sinc polyphase
filter): the same code path as decoded audio files, so a WAV file and its samples as an array give
the same waveform.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from PIL import Image

from ..errors import DecodeError, LimitExceededError, MissingDependencyError, UnsupportedInputError
from ..policy import DEFAULT_DECODE_LIMITS, DecodeLimits
from ..types import ResolveContext
from .image import check_pixels, float_to_uint8, normalize_image, uint16_to_uint8

__all__ = ["image_from_array", "infer_image_layout", "audio_from_array", "to_numpy", "finish_audio",
           "scale_audio", "downmix", "crop_audio"]

ImageLayout = Literal["HWC", "CHW", "HW"]
_CHANNELS = (1, 3, 4)
_MAX_CHANNELS = 8
MAX_SAMPLING_RATE = 1_000_000
"""Rates above this (1 MHz) are refused as implausible rather than handed to the resampler."""
_AUDIO_SCALE = {np.dtype(np.int8): (0.0, 128.0), np.dtype(np.int16): (0.0, 32768.0),
                np.dtype(np.int32): (0.0, 2147483648.0), np.dtype(np.int64): (0.0, 9223372036854775808.0),
                np.dtype(np.uint8): (128.0, 128.0), np.dtype(np.uint16): (32768.0, 32768.0),
                np.dtype(np.uint32): (2147483648.0, 2147483648.0)}


_EXACT_IN_FLOAT32 = frozenset(np.dtype(t) for t in (np.int8, np.int16, np.int32))
"""Signed PCM dtypes whose float32 value times 2**-bits is exactly the float64 formula's result rounded to
float32: the scale is a power of two (no rounding of its own) and float32 holds each int8/int16 value exactly
and rounds an int32 the way the final float64-to-float32 cast rounds the quotient."""


def to_numpy(arr: Any, limits: DecodeLimits = DEFAULT_DECODE_LIMITS) -> np.ndarray:
    """A numpy view/copy of a numpy array or torch tensor, refusing oversized ones before copying."""
    size = int(arr.numel()) if hasattr(arr, "numel") else int(np.size(arr))
    if size > limits.max_array_elements:
        raise LimitExceededError("array is too large", limit_name="max_array_elements",
                                 limit=limits.max_array_elements, actual=size)
    if type(arr).__module__.startswith("torch"):
        tensor = arr.detach().cpu()
        if tensor.dtype.is_floating_point and tensor.dtype not in _numpy_floats():
            tensor = tensor.float()
        return tensor.numpy()
    return np.asarray(arr)


def _numpy_floats():
    import torch

    return (torch.float16, torch.float32, torch.float64)


def infer_image_layout(shape: tuple[int, ...]) -> ImageLayout:
    """"HWC" or "CHW" for a 3-D shape whose channel axis is unambiguous; else UnsupportedInputError."""
    if len(shape) == 2:
        raise UnsupportedInputError(
            f"a 2-D array {tuple(shape)} may be a grayscale image or multi-channel audio; "
            "wrap it as as_image(x) (grayscale) or as_audio(x, sampling_rate=...)"
        )
    if len(shape) != 3:
        what = "a batch of images or a video" if len(shape) == 4 else "not an image"
        raise UnsupportedInputError(
            f"a {len(shape)}-D array {tuple(shape)} is {what}; pass one image (H, W, C) or (C, H, W) at a time"
            + (", or as_video(x) for frames" if len(shape) == 4 else "")
        )
    first, last = shape[0] in _CHANNELS, shape[-1] in _CHANNELS
    if last and not first:
        return "HWC"
    if first and not last:
        return "CHW"
    reason = "both ends could be" if first else "neither end is"
    raise UnsupportedInputError(
        f"ambiguous image shape {tuple(shape)}: {reason} a channel axis of 1, 3 or 4; "
        "pass layout='HWC' or layout='CHW' (as_image(x, layout=...))"
    )


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return uint16_to_uint8(arr)
    if np.issubdtype(arr.dtype, np.floating):
        return float_to_uint8(arr)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise DecodeError(f"{arr.dtype} image values must lie in 0..255 (or use uint16 for 16-bit data)")
        return arr.astype(np.uint8)
    raise UnsupportedInputError(f"unsupported image dtype {arr.dtype}")


def image_from_array(
    arr: Any, *, layout: ImageLayout | None = None, limits: DecodeLimits = DEFAULT_DECODE_LIMITS
) -> Image.Image:
    """An RGB PIL image from an (H, W, C) / (C, H, W) array or tensor; ``layout="HW"`` for grayscale.

    dtypes: uint8 as is, uint16 scaled to 8 bits, bool as 0/255, float only in [0, 1], other
    integers only in 0..255. Channels: 1 (gray), 3 (RGB), 4 (RGBA, composited like PNG alpha).
    """
    data = to_numpy(arr, limits)
    layout = layout or infer_image_layout(data.shape)
    expected = {"HWC": 3, "CHW": 3, "HW": 2}.get(layout)
    if expected is None or data.ndim != expected:
        raise UnsupportedInputError(f"layout {layout!r} does not fit an array of shape {tuple(data.shape)}")
    if layout == "HW":
        data = data[:, :, None]
    elif layout == "CHW":
        data = np.moveaxis(data, 0, -1)
    if data.shape[-1] not in _CHANNELS:
        raise UnsupportedInputError(f"an image needs 1, 3 or 4 channels, got {data.shape[-1]} (shape {arr.shape})")
    check_pixels((data.shape[1], data.shape[0]), limits)
    pixels = np.ascontiguousarray(_to_uint8(data))
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[pixels.shape[-1]]
    return normalize_image(Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode=mode), limits)


def scale_audio(samples: np.ndarray) -> np.ndarray:
    """Samples of any integer or float dtype as float32; integers scaled by their dtype into [-1, 1)."""
    if samples.dtype in _EXACT_IN_FLOAT32:  # same values as the float64 formula below, in a third of the time
        return np.multiply(samples, np.float32(1.0 / _AUDIO_SCALE[samples.dtype][1]), dtype=np.float32)
    if samples.dtype in _AUDIO_SCALE:
        offset, scale = _AUDIO_SCALE[samples.dtype]
        return ((samples.astype(np.float64) - offset) / scale).astype(np.float32)
    if np.issubdtype(samples.dtype, np.floating):
        return samples.astype(np.float32, copy=False)
    raise UnsupportedInputError(f"unsupported audio dtype {samples.dtype} (use float32 or an integer PCM dtype)")


def downmix(samples: np.ndarray) -> np.ndarray:
    """1-D mono from 1-D, (channels, samples) or (samples, channels); the smaller axis (<= 8) is the channels."""
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2:
        raise UnsupportedInputError(f"audio must be 1-D or 2-D (channels x samples), got shape {samples.shape}")
    rows, cols = samples.shape
    if rows <= _MAX_CHANNELS < cols or (rows == 1 and cols > 1):
        return samples.mean(axis=0, dtype=np.float32)
    if cols <= _MAX_CHANNELS < rows or (cols == 1 and rows > 1):
        return samples.mean(axis=1, dtype=np.float32)
    raise UnsupportedInputError(
        f"ambiguous audio shape {samples.shape}: expected (channels, samples) or (samples, channels) "
        f"with at most {_MAX_CHANNELS} channels and more samples than that; pass a 1-D array per channel mix"
    )


def resample(mono: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample 1-D float32 audio with libswresample (via PyAV); output length ~ len * target / rate."""
    if rate == target or mono.size == 0:
        return mono
    try:
        import av
    except ImportError as exc:
        raise MissingDependencyError("resampling audio needs PyAV", package="av") from exc
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono[None, :]), format="fltp", layout="mono")
    frame.sample_rate = int(rate)
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=int(target))
    try:
        chunks = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame) + resampler.resample(None)]
    except av.FFmpegError as exc:  # includes FFmpeg's ENOMEM, which subclasses the builtin MemoryError
        raise DecodeError(f"cannot resample audio from {rate} Hz to {target} Hz: {exc}") from exc
    return np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)


def crop_audio(mono: np.ndarray, rate: int, seconds: float | None, how: str) -> np.ndarray:
    if seconds is None:
        return mono
    keep = max(1, int(round(seconds * rate)))
    if mono.size <= keep:
        return mono
    start = 0 if how == "start" else (mono.size - keep) // 2
    return mono[start:start + keep]


def check_audio_seconds(samples: int, rate: int, limits: DecodeLimits) -> None:
    """Raise LimitExceededError if ``samples / rate`` is longer than ``limits.max_audio_seconds``."""
    seconds = samples / rate
    if seconds > limits.max_audio_seconds:
        raise LimitExceededError("audio is too long", limit_name="max_audio_seconds",
                                 limit=limits.max_audio_seconds, actual=round(seconds, 3))


def finish_audio(mono: np.ndarray, rate: int, ctx: ResolveContext) -> dict[str, Any]:
    """Checks (empty, NaN/inf, duration), resampling and the deterministic crop, shared by arrays and files."""
    if mono.size == 0:
        raise DecodeError("audio is empty (0 samples)")
    if not np.isfinite(mono).all():
        raise DecodeError("audio contains NaN or infinite samples")
    if not 0 < rate <= MAX_SAMPLING_RATE:
        raise DecodeError(f"implausible audio sampling rate {rate} Hz (at most {MAX_SAMPLING_RATE} Hz is accepted)")
    check_audio_seconds(mono.size, rate, ctx.limits)
    target = int(ctx.audio_sampling_rate or rate)
    out = resample(mono.astype(np.float32, copy=False), rate, target)
    if out.size == 0:
        raise DecodeError(f"audio of {mono.size} samples at {rate} Hz is empty once resampled to {target} Hz")
    out = crop_audio(out, target, ctx.audio_max_seconds, ctx.limits.audio_crop)
    return {"array": np.ascontiguousarray(out, dtype=np.float32), "sampling_rate": target}


def audio_from_array(arr: Any, sampling_rate: int | None, ctx: ResolveContext) -> dict[str, Any]:
    """An AudioDict ``{"array": float32 mono, "sampling_rate": int}`` from samples in memory."""
    if sampling_rate is None:
        raise UnsupportedInputError(
            "audio given as an array needs its sampling rate: pass as_audio(x, sampling_rate=...) "
            "or {'array': x, 'sampling_rate': ...}"
        )
    if isinstance(sampling_rate, bool) or not float(sampling_rate).is_integer() or int(sampling_rate) <= 0:
        raise UnsupportedInputError(f"sampling_rate must be a positive integer, got {sampling_rate!r}")
    data = to_numpy(arr, ctx.limits)
    if data.dtype == np.bool_:
        raise UnsupportedInputError("boolean arrays are not audio")
    if data.size == 0:
        raise DecodeError(f"audio is empty (shape {tuple(data.shape)})")
    mono = downmix(scale_audio(data))
    return finish_audio(mono, int(sampling_rate), ctx)
