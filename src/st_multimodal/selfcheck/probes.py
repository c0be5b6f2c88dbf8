"""The built-in probe inputs of the self-check: a fixed image, texts, audio and video, made in code.

Every probe is generated with integer arithmetic (or rounded to 16-bit samples), so the inputs are
byte-identical on every machine and with every numpy / Pillow version; ``Probe.sha256`` lets a
check confirm it. **Changing anything here invalidates every saved reference**: bump
:data:`PROBE_SET_VERSION` whenever a probe's name, content or order changes, and references made
with another version are refused with a clear error rather than compared.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..resolvers import as_audio, as_text, as_video

__all__ = [
    "PROBE_SET_VERSION",
    "PROBE_TEXTS",
    "Probe",
    "content_sha256",
    "probe_image_array",
    "probe_audio_array",
    "probe_video_array",
    "embedding_probes",
    "pair_probes",
]

PROBE_SET_VERSION = "1"
"""Bump on any change to the probes below; references from another version cannot be compared."""

PROBE_TEXTS: tuple[tuple[str, str], ...] = (
    ("text/shapes", "a red circle above a blue square"),
    ("text/sentence", "The quick brown fox jumps over the lazy dog, 3 times in 2.5 seconds!"),
    ("text/unicode", "Caf\u00e9 na\u00efve fa\u00e7ade \u2014 \u6771\u4eac\u30bf\u30ef\u30fc \U0001f680"),
)
"""Plain words, punctuation and numbers, and non-ASCII text (normalisation and byte fallback)."""

_IMAGE_SIZES: tuple[tuple[str, int, int], ...] = (("image/shapes-224x224", 224, 224), ("image/shapes-320x192", 320, 192))
"""A square image and a wide one: the second exercises the processor's resize / crop / aspect handling."""

_AUDIO_SECONDS = 1
_AUDIO_TONES = ((220, 12_000), (440, 8_000), (1_000, 4_000))
"""(frequency in Hz, amplitude out of 32767) of the chord, with an integer-step fade-in."""

_VIDEO_FRAMES, _VIDEO_SIDE, _VIDEO_FPS = 4, 64, 2.0


@dataclass(frozen=True)
class Probe:
    """One probe input: its stable name, modality, the value given to the model and a hash of its content."""

    name: str
    modality: str
    value: Any
    sha256: str


def content_sha256(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.tobytes() if isinstance(part, np.ndarray) else str(part).encode())
    return digest.hexdigest()


def probe_image_array(width: int, height: int) -> np.ndarray:
    """A (height, width, 3) uint8 picture: a diagonal colour gradient, a red disc, a blue square, a green triangle."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    image = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 127 // (width + height - 2) + 64], -1)
    unit = min(width, height) // 8
    cx, cy = width // 4, height // 3
    image[(x - cx) ** 2 + (y - cy) ** 2 <= (unit * 3 // 2) ** 2] = (220, 30, 30)
    image[(x >= width // 2) & (x < width // 2 + 2 * unit) & (y >= height // 6) & (y < height // 6 + 2 * unit)] = (30, 40, 210)
    top, base, left = height // 2, height - unit, width * 5 // 8  # apex at (left + unit, top)
    inside = (y >= top) & (y <= base) & (np.abs(x - (left + unit)) * (base - top) <= (y - top) * unit)
    image[inside] = (40, 190, 60)
    return np.ascontiguousarray(image.astype(np.uint8))


def probe_audio_array(sampling_rate: int) -> np.ndarray:
    """One second of a three-tone chord at ``sampling_rate``, quantised to 16-bit steps (as float32 in [-1, 1])."""
    n = sampling_rate * _AUDIO_SECONDS
    t = np.arange(n, dtype=np.float64) / sampling_rate
    mix = sum(amplitude * np.sin(2 * math.pi * frequency * t) for frequency, amplitude in _AUDIO_TONES)
    fade = np.minimum(np.arange(n), n // 10) / (n // 10)
    samples = np.rint(mix * fade).astype(np.int16)  # rounding removes last-bit differences between libm versions
    return samples.astype(np.float32) / 32768.0


def probe_video_array() -> np.ndarray:
    """(4, 64, 64, 3) uint8 frames: a white square moving right over a fixed gradient."""
    frames = np.repeat(probe_image_array(_VIDEO_SIDE, _VIDEO_SIDE)[None], _VIDEO_FRAMES, axis=0)
    for i, frame in enumerate(frames):
        frame[20:36, 8 + 10 * i : 24 + 10 * i] = 255
    return frames


def _image_probes() -> list[Probe]:
    return [
        Probe(name, "image", Image.fromarray(array, mode="RGB"), content_sha256(array))
        for name, w, h in _IMAGE_SIZES
        for array in [probe_image_array(w, h)]
    ]


def _audio_probe(sampling_rate: int) -> Probe:
    array = probe_audio_array(sampling_rate)
    return Probe("audio/chord-1s", "audio", as_audio(array, sampling_rate=sampling_rate), content_sha256(array, sampling_rate))


def _video_probe() -> Probe:
    frames = probe_video_array()
    return Probe("video/moving-square", "video", as_video(frames, fps=_VIDEO_FPS), content_sha256(frames, _VIDEO_FPS))


def embedding_probes(model: Any, *, video: bool = True) -> list[Probe]:
    """The probes ``model`` can take, in a fixed order: texts, images, text+image, audio, video.

    Audio is generated at the model's own sampling rate (no resampler in the path), so its hash
    changes when that rate does.
    """
    probes = [Probe(name, "text", as_text(text), content_sha256(text)) for name, text in PROBE_TEXTS]
    if model.supports("image"):
        probes += _image_probes()
        if model.supports(("image", "text")):
            text, image = PROBE_TEXTS[0][1], probes[len(PROBE_TEXTS)]
            probes.append(Probe("image+text/shapes", "image+text", {"text": text, "image": image.value},
                                content_sha256(text, image.sha256)))
    if model.supports("audio"):
        probes.append(_audio_probe(_sampling_rate(model)))
    if video and model.supports("video"):
        probes.append(_video_probe())
    return probes


def pair_probes(model: Any) -> list[tuple[str, str, list[tuple[Any, Any]], str]]:
    """Groups of (query, document) pairs for a reranker: ``(name, "query->document" modalities, pairs, sha256)``.

    The query is the first probe text; documents are the text probes, then the images and audio the
    model takes, and (for image models) the image as query against the texts. Video is left out (a
    group more would change ``PROBE_SET_VERSION``, and every reference made before would be refused).
    """
    query_text = PROBE_TEXTS[0][1]
    query, texts = as_text(query_text), [as_text(text) for _, text in PROBE_TEXTS]
    groups = [("pairs/text", "text->text", [(query, text) for text in texts], content_sha256(query_text, *(t.value for t in texts)))]
    if model.supports("image"):
        images = _image_probes()
        groups.append(("pairs/image", "text->image", [(query, p.value) for p in images],
                       content_sha256(query_text, *(p.sha256 for p in images))))
        groups.append(("pairs/image-query", "image->text", [(images[0].value, text) for text in texts],
                       content_sha256(images[0].sha256, *(t.value for t in texts))))
    if model.supports("audio"):
        audio = _audio_probe(_sampling_rate(model))
        groups.append(("pairs/audio", "text->audio", [(query, audio.value)], content_sha256(query_text, audio.sha256)))
    return groups


def _sampling_rate(model: Any) -> int:
    rate = model.resolve_context().audio_sampling_rate if hasattr(model, "resolve_context") else None
    return rate or 16_000
