"""``data:`` URIs (RFC 2397): base64 or percent-encoded bytes inline in the string.

The media type is kept as ``mime``. ``FetchPolicy.max_bytes`` applies to the decoded length,
which is computed from the encoded length before anything is decoded.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote, unquote_to_bytes

from ..errors import BlockedSourceError, FetchError, LimitExceededError, describe_source
from ..types import FetchedBytes, ResolveContext

__all__ = ["DataSource", "parse_data_uri"]

_DEFAULT_MIME = "text/plain"
_URLSAFE = str.maketrans("-_", "+/")


def _too_big(max_bytes: int, actual: int) -> LimitExceededError:
    return LimitExceededError(
        "data: URI payload is larger than FetchPolicy.max_bytes",
        limit_name="max_bytes", limit=max_bytes, actual=actual,
    )


def _decode_base64(payload: str, max_bytes: int) -> bytes:
    ignored = 2 * payload.count("%") + sum(payload.count(c) for c in " \t\r\n") + 2
    estimate = max(0, len(payload) - ignored) * 3 // 4
    if estimate > max_bytes:
        raise _too_big(max_bytes, estimate)
    if "%" in payload:
        payload = unquote(payload)
    payload = "".join(payload.split()).rstrip("=")
    if len(payload) % 4 == 1:
        raise FetchError("malformed data: URI (base64 payload has an impossible length)", transient=False)
    if "-" in payload or "_" in payload:
        payload = payload.translate(_URLSAFE)
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FetchError(f"malformed data: URI (invalid base64: {exc})", transient=False) from exc
    if len(data) > max_bytes:
        raise _too_big(max_bytes, len(data))
    return data


def _decode_percent(payload: str, max_bytes: int) -> bytes:
    lower_bound = len(payload) - 2 * payload.count("%")
    if lower_bound > max_bytes:
        raise _too_big(max_bytes, lower_bound)
    data = unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise _too_big(max_bytes, len(data))
    return data


def parse_data_uri(uri: str, max_bytes: int) -> tuple[bytes, str]:
    """``(bytes, mime)`` of a ``data:`` URI, refusing payloads over ``max_bytes`` before decoding."""
    if uri[:5].lower() != "data:":
        raise FetchError("not a data: URI", transient=False)
    header, comma, payload = uri[5:].partition(",")
    if not comma:
        raise FetchError("malformed data: URI (no ',' between the media type and the data)", transient=False)
    params = [p.strip() for p in header.split(";")]
    is_base64 = len(params) > 1 and params[-1].lower() == "base64"
    mime = params[0].lower() if "/" in params[0] else _DEFAULT_MIME
    data = _decode_base64(payload, max_bytes) if is_base64 else _decode_percent(payload, max_bytes)
    return data, mime


class DataSource:
    """Decodes the bytes carried inside a ``data:`` URI (no I/O)."""

    schemes = ("data",)

    def fetch(self, location: str, ctx: ResolveContext) -> FetchedBytes:
        policy = ctx.fetch_policy
        source = describe_source(location)
        try:
            if "data" not in policy.allowed_schemes:
                raise BlockedSourceError("scheme 'data' is not allowed by the fetch policy")
            data, mime = parse_data_uri(location, policy.max_bytes)
        except (FetchError, LimitExceededError) as exc:
            raise exc.at(source=source)
        return FetchedBytes(data=data, source=source, mime=mime, name=None)
