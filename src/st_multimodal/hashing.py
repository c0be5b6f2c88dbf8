"""Content hashes for inputs: the key of caches and the ``content_hash`` of provenance."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["hash_bytes", "hash_text", "hash_array", "hash_image"]


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_text(text: str) -> str:
    return hashlib.sha256(b"text\x00" + text.encode("utf-8", "surrogatepass")).hexdigest()


def hash_array(array: Any) -> str:
    """Hash of an array's dtype, shape and contents (numpy or torch)."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def hash_image(image: Any) -> str:
    """Hash of a PIL image's mode, size and pixels."""
    digest = hashlib.sha256(f"{image.mode}{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()
