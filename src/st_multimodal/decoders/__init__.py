"""Decoders: bytes to media (never fetching), plus in-memory arrays and PIL images to the same shapes.

Built-ins, tried in this order by their magic bytes: ``image`` (Pillow), ``audio`` (PyAV), ``video``
(PyAV). They are registered lazily, so PyAV is imported only when audio or video is decoded.
"""

from __future__ import annotations

from .arrays import audio_from_array, image_from_array, infer_image_layout
from .base import DECODERS, Decoder, register_decoder
from .image import apply_jpeg_draft, normalize_image
from .sniff import choose_decoder, describe_prefix, modality_of, sniff_format
from .video import video_from_frames

__all__ = [
    "DECODERS",
    "Decoder",
    "register_decoder",
    "choose_decoder",
    "sniff_format",
    "describe_prefix",
    "modality_of",
    "normalize_image",
    "apply_jpeg_draft",
    "image_from_array",
    "infer_image_layout",
    "audio_from_array",
    "video_from_frames",
]

_BUILTINS = (
    ("image", "st_multimodal.decoders.image:ImageDecoder"),
    ("audio", "st_multimodal.decoders.audio:AudioDecoder"),
    ("video", "st_multimodal.decoders.video:VideoDecoder"),
)

for _name, _path in _BUILTINS:
    if _name not in DECODERS:
        DECODERS.register(_name, _path, extra=None)
