"""Small builders for hostile payloads (cheap to make, expensive to decode naively)."""

from __future__ import annotations

import gzip
import struct
import zlib

__all__ = ["zeros_gzip", "gzip_gzip_bomb", "nested_dict", "nested_list"]

_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


def zeros_gzip(total: int, block: int = 1 << 20) -> bytes:
    """A valid gzip stream of ``total`` zero bytes (a multiple of ``block``), made in a fraction of a second.

    After a full flush a deflate block does not refer back, so one compressed block of zeros is repeated.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(block)
    first = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = total // block
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zero, crc)
    body = first + again * (count - 1) + compressor.flush()
    return _GZIP_HEADER + body + struct.pack("<II", crc, (count * block) & 0xFFFFFFFF)


def gzip_gzip_bomb(total: int = 1 << 30) -> bytes:
    """``Content-Encoding: gzip, gzip``: about 2.5 KB on the wire for 1 GiB of zeros."""
    return gzip.compress(zeros_gzip(total), 9)


def nested_dict(depth: int, key: str = "image", leaf: object = "x") -> dict:
    value: object = leaf
    for _ in range(depth):
        value = {key: value}
    return value  # type: ignore[return-value]


def nested_list(depth: int, leaf: object = "x") -> list:
    value: object = leaf
    for _ in range(depth):
        value = [value]
    return value  # type: ignore[return-value]
