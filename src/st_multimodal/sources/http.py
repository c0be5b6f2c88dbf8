"""HTTP(S) source: pooled, pinned to checked addresses, bounded in time and size.

Every hop (the first request and each redirect) is checked against the whole
:class:`~st_multimodal.policy.FetchPolicy` before anything is sent. The host name is resolved
once by :mod:`.netguard`, and the connection goes to that checked address: the client's network
backend refuses any connection that was not pinned this way, so DNS rebinding cannot bypass the
check, while TLS still verifies the certificate against the host name. ``policy.timeout`` is one
deadline for the whole fetch (retries, redirects and body included): every socket read is given
the time left, and the deadline is checked again between chunks.
"""

from __future__ import annotations

import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from ..errors import BlockedSourceError, FetchError, LimitExceededError
from ..policy import FetchPolicy
from ..types import FetchedBytes, ResolveContext
from . import netguard

__all__ = ["HttpSource", "fetch_many", "DEFAULT_HTTP_SOURCE"]

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_CODES = frozenset({408, 429})


class _Deadline:
    """A monotonic deadline for one fetch."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.monotonic()
        self.end = self.start + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def error(self) -> FetchError:
        return FetchError(
            f"deadline of {self.seconds:g} s (FetchPolicy.timeout) exceeded after {self.elapsed():.2f} s",
            transient=True,
        )


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to the address pinned for the current thread's fetch, within its deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()
        self._local = threading.local()

    @contextmanager
    def pinned(self, host: str, addresses: list[str], deadline: _Deadline) -> Iterator[None]:
        """While inside, connections to ``host`` go to ``addresses`` (checked), tried in order."""
        previous = getattr(self._local, "binding", None)
        self._local.binding = (host, addresses, deadline)
        try:
            yield
        finally:
            self._local.binding = previous

    def clamp(self, timeout: float | None, exc_type: type[Exception]) -> float:
        binding = getattr(self._local, "binding", None)
        if binding is None:
            raise exc_type("no fetch is in progress on this thread")
        remaining = binding[2].remaining()
        if remaining <= 0:
            raise exc_type("fetch deadline exceeded")
        return remaining if timeout is None else min(timeout, remaining)

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        binding = getattr(self._local, "binding", None)
        if binding is None or binding[0] != host:
            raise httpcore.ConnectError(f"refusing a connection to {host!r} that was not checked by the fetch policy")
        for position, ip in enumerate(binding[1]):
            try:
                timeout = self.clamp(timeout, httpcore.ConnectTimeout)
                stream = self._inner.connect_tcp(ip, port, timeout, local_address, socket_options)
                return _DeadlineStream(stream, self)
            except httpcore.ConnectError:
                if position == len(binding[1]) - 1:
                    raise
        raise httpcore.ConnectError(f"no address to connect to for {host!r}")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not used by HttpSource")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read and write gets at most the time left before the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, backend: _PinnedBackend):
        self._stream = stream
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._backend.clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._backend.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        timeout = self._backend.clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout), self._backend)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's transport with the connection pool built on :class:`_PinnedBackend`."""

    def __init__(self, backend: _PinnedBackend, ssl_context: ssl.SSLContext, limits: httpx.Limits):
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        if not hasattr(self, "_pool"):  # pragma: no cover - guards against an httpx rewrite
            raise RuntimeError("this httpx version is not supported by HttpSource (no HTTPTransport._pool)")
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def _safe(location: str) -> str:
    """The location without user:password, for messages."""
    parts = urlsplit(location)
    if "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return location


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


_DROPPED = ("server disconnected without sending a response", "peer closed connection without sending complete")
"""How httpcore and h11 word a connection closed early: the one protocol error worth retrying."""


def _connection_dropped(exc: httpx.RemoteProtocolError) -> bool:
    return str(exc).lower().startswith(_DROPPED)


@contextmanager
def _translated(deadline: _Deadline) -> Iterator[None]:
    """httpx errors as FetchError: timeouts, connection failures and dropped connections are transient;
    a malformed response (one that breaks the protocol) is permanent."""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        if deadline.remaining() <= 0.01:
            raise deadline.error() from exc
        raise FetchError(f"connect timed out (FetchPolicy.connect_timeout): {exc}", transient=True) from exc
    except httpx.TimeoutException as exc:  # read, write and pool waits are all bounded by the deadline
        raise deadline.error() from exc
    except (httpx.UnsupportedProtocol, httpx.DecodingError, httpx.InvalidURL) as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}", transient=False) from exc
    except httpx.RemoteProtocolError as exc:
        if _connection_dropped(exc):
            raise FetchError("the server closed the connection before its response was complete", transient=True) from exc
        # the server's bytes are not quoted: they may be anything (h11 puts the offending line in its message)
        raise FetchError("malformed HTTP response (not valid HTTP/1.1; not retried)", transient=False) from exc
    except httpx.LocalProtocolError as exc:
        raise FetchError(f"the request could not be sent ({type(exc).__name__})", transient=False) from exc
    except httpx.HTTPError as exc:
        if _caused_by(exc, ssl.SSLCertVerificationError):
            raise FetchError(f"TLS certificate verification failed: {exc}", transient=False) from exc
        raise FetchError(f"connection failed ({type(exc).__name__}: {exc})", transient=True) from exc


class HttpSource:
    """Fetches ``http://`` and ``https://`` URLs under a :class:`FetchPolicy`. Thread-safe.

    One connection pool per source (per network class: loopback/private allowed or not, so a
    keep-alive connection made under a looser policy is never reused under a stricter one). The
    pool's transport is used directly rather than through ``httpx.Client``: no cookie jar shared
    between unrelated fetches, no environment proxies, and redirects are handled here only.
    """

    schemes = ("http", "https")

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_connections: int = 100):
        self._ssl_context = ssl_context
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=32)
        self._backend = _PinnedBackend()
        self._transports: dict[tuple[bool, bool], httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def _transport(self, policy: FetchPolicy) -> httpx.HTTPTransport:
        """The pooled transport for this policy's network class, made on first use."""
        key = (policy.allow_loopback, policy.allow_private)
        transport = self._transports.get(key)
        if transport is None:
            with self._lock:
                transport = self._transports.get(key)
                if transport is None:
                    context = self._ssl_context or httpx.create_ssl_context(trust_env=False)
                    transport = self._transports[key] = _PinnedTransport(self._backend, context, self._limits)
        return transport

    def close(self) -> None:
        """Close the pooled connections (the source stays usable; a new pool is made on demand)."""
        with self._lock:
            transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            transport.close()

    def fetch(self, location: str, ctx: ResolveContext) -> FetchedBytes:
        """Fetch ``location``, retrying transient failures ``policy.retries`` times within the deadline."""
        policy = ctx.fetch_policy
        source = _safe(location)
        if not policy.enabled:
            raise BlockedSourceError("remote fetching is disabled (FetchPolicy.enabled=False)", source=source)
        deadline = _Deadline(policy.timeout)
        attempt = 0
        while True:
            try:
                return self._fetch_chain(location, policy, deadline, source)
            except FetchError as exc:
                delay = _retry_delay(exc, attempt, policy, deadline)
                if delay is None:
                    raise exc.at(source=source)
            except LimitExceededError as exc:
                raise exc.at(source=source)
            time.sleep(delay)
            attempt += 1

    def fetch_many(self, locations: Iterable[str], ctx: ResolveContext) -> list[FetchedBytes | Exception]:
        """Fetch many URLs concurrently (at most ``policy.max_concurrency``), results in input order."""
        return fetch_many(locations, ctx, fetch_one=self.fetch)

    def _fetch_chain(self, location: str, policy: FetchPolicy, deadline: _Deadline, source: str) -> FetchedBytes:
        visited: set[str] = set()
        current = location
        for _ in range(policy.max_redirects + 1):
            url = _parse_url(current, policy)
            if str(url) in visited:
                raise FetchError(f"redirect loop: {_safe(str(url))} was already visited", transient=False)
            visited.add(str(url))
            if deadline.remaining() <= 0:
                raise deadline.error()
            host = url.raw_host.decode("ascii")
            port = url.port or (443 if url.scheme == "https" else 80)
            addresses = netguard.check_addresses(host, port, policy, timeout=deadline.remaining())
            with self._backend.pinned(host, addresses, deadline), _translated(deadline):
                result = self._exchange(url, policy, deadline, source)
            if isinstance(result, FetchedBytes):
                return result
            current = result
        raise FetchError(f"more than {policy.max_redirects} redirects (FetchPolicy.max_redirects)", transient=False)

    def _exchange(self, url: httpx.URL, policy: FetchPolicy, deadline: _Deadline, source: str) -> FetchedBytes | str:
        """One request: the bytes, or the next URL when the answer is a redirect."""
        remaining = deadline.remaining()
        timeout = httpx.Timeout(remaining, connect=min(policy.connect_timeout, remaining))
        headers = {"User-Agent": policy.user_agent, "Accept-Encoding": "identity", "Accept": "*/*"}
        request = httpx.Request("GET", url, headers=headers, extensions={"timeout": timeout.as_dict()})
        response = self._transport(policy).handle_request(request)
        response.request = request
        try:
            code = response.status_code
            if code in _REDIRECT_CODES:
                target = response.headers.get("location")
                if not target:
                    raise FetchError(f"HTTP {code} redirect without a Location header", status=code)
                return urljoin(str(url), target.strip())
            if not 200 <= code < 300:
                transient = code >= 500 or code in _TRANSIENT_CODES
                raise FetchError(
                    f"HTTP {code} {response.reason_phrase} from {_safe(str(url))}",
                    status=code,
                    transient=transient,
                    retry_after=_retry_after(response) if transient else None,
                )
            data = _read_body(response, policy.max_bytes, deadline)
        finally:
            response.close()
        mime = response.headers.get("content-type", "").split(";", 1)[0].strip().lower() or None
        return FetchedBytes(data=data, source=source, mime=mime, name=url.path or None)


def _parse_url(text: str, policy: FetchPolicy) -> httpx.URL:
    """Check the scheme and rewrite a literal address (any spelling) to its canonical form."""
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or scheme not in policy.allowed_schemes:
            raise BlockedSourceError(f"scheme {scheme!r} is not allowed for {_safe(text)!r}")
        host = parts.hostname
        if not host:
            raise FetchError(f"URL {_safe(text)!r} has no host", transient=False)
        ip = netguard.parse_ip(host)
        netloc = parts.netloc
        if ip is not None:
            userinfo = netloc.rpartition("@")[0] + "@" if "@" in netloc else ""
            shown = f"[{ip}]" if ip.version == 6 else str(ip)
            netloc = f"{userinfo}{shown}" + (f":{parts.port}" if parts.port is not None else "")
        return httpx.URL(urlunsplit((scheme, netloc, parts.path or "/", parts.query, "")))
    except (ValueError, httpx.InvalidURL) as exc:
        raise FetchError(f"invalid URL {_safe(text)!r}: {exc}", transient=False) from exc


def _read_body(response: httpx.Response, max_bytes: int, deadline: _Deadline) -> bytes:
    """Stream the raw body, refusing it as soon as it is known or seen to exceed ``max_bytes``.

    httpx never decodes it (``iter_raw``): a ``gzip`` or ``deflate`` body is inflated here, one
    layer, incrementally, and the decoded size counts against ``max_bytes`` as it grows.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise LimitExceededError(
            "response body is larger than FetchPolicy.max_bytes (Content-Length)",
            limit_name="max_bytes", limit=max_bytes, actual=int(declared),
        )
    inflater = _inflater_for(response)
    parts: list[bytes] = []
    total = received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        pieces = inflater.feed(chunk, max_bytes - total) if inflater else (chunk,)
        for piece in pieces:
            parts.append(piece)
            total += len(piece)
            if total > max_bytes:
                what = "decoded response body" if inflater else "response body"
                raise LimitExceededError(
                    f"{what} exceeds FetchPolicy.max_bytes (stopped after {total} bytes)",
                    limit_name="max_bytes", limit=max_bytes, actual=total,
                )
        if received > max_bytes:  # a compressed body is never larger than the cap either
            raise LimitExceededError(
                f"response body exceeds FetchPolicy.max_bytes (stopped after {received} bytes)",
                limit_name="max_bytes", limit=max_bytes, actual=received,
            )
        if deadline.remaining() <= 0:
            raise deadline.error()
    if inflater and received:  # an empty body is empty, whatever its Content-Encoding
        inflater.finish()
    return b"".join(parts)


_INFLATED_CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _inflater_for(response: httpx.Response) -> _Inflater | None:
    """The decoder for the response's Content-Encoding: None for identity; one gzip/deflate layer; else refused."""
    header = ",".join(response.headers.get_list("content-encoding"))
    codings = [c.strip().lower() for c in header.split(",") if c.strip() and c.strip().lower() != "identity"]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in _INFLATED_CODINGS:
        raise FetchError(
            f"response has Content-Encoding {', '.join(codings)!r}; only one layer of gzip or deflate is decoded",
            transient=False,
        )
    return _Inflater(codings[0])


class _Inflater:
    """Incremental gzip/deflate decoding that never produces more than the room it is given (plus one byte)."""

    def __init__(self, coding: str):
        self.coding = coding
        self._zlib = zlib.decompressobj(_INFLATED_CODINGS[coding])
        self._started = False

    def feed(self, chunk: bytes, room: int) -> Iterator[bytes]:
        """Decoded pieces of ``chunk``; stops (the caller raises) once more than ``room`` bytes were produced."""
        data = chunk
        while data and not self._zlib.eof:
            try:
                piece = self._zlib.decompress(data, max(room, 0) + 1)
            except zlib.error as exc:
                if self.coding != "deflate" or self._started:
                    raise self._malformed("is corrupt") from exc
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent raw, without the zlib header
                self._started = True
                continue
            self._started = True
            room -= len(piece)
            yield piece
            if room < 0:
                return
            data = self._zlib.unconsumed_tail
        if self._zlib.unused_data or (data and self._zlib.eof):
            raise self._malformed("has data after its end")

    def finish(self) -> None:
        if not self._zlib.eof:
            raise self._malformed("is truncated")

    def _malformed(self, what: str) -> FetchError:
        return FetchError(f"the {self.coding}-compressed response body {what}", transient=False)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def _retry_delay(exc: FetchError, attempt: int, policy: FetchPolicy, deadline: _Deadline) -> float | None:
    """Seconds to wait before the next try, or None when ``exc`` must be raised."""
    if isinstance(exc, BlockedSourceError) or not exc.transient or attempt >= policy.retries:
        return None
    delay = max(policy.retry_backoff * (2**attempt), getattr(exc, "retry_after", None) or 0.0)
    return delay if delay < deadline.remaining() else None


def fetch_many(
    locations: Iterable[str],
    ctx: ResolveContext,
    *,
    fetch_one: Callable[[str, ResolveContext], FetchedBytes] | None = None,
) -> list[FetchedBytes | Exception]:
    """Fetch every location on a thread pool of at most ``policy.max_concurrency`` threads.

    Results keep the input order; a failed item is its exception (other items are unaffected).
    ``fetch_one`` defaults to :func:`st_multimodal.sources.fetch` (any registered scheme).
    """
    if fetch_one is None:
        from .base import fetch as fetch_one
    items = list(locations)

    def one(location: str) -> FetchedBytes | Exception:
        try:
            return fetch_one(location, ctx)
        except Exception as exc:  # noqa: BLE001 - returned per item, by design
            return exc

    workers = min(ctx.fetch_policy.max_concurrency, len(items))
    if workers <= 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="st-multimodal-fetch") as pool:
        return list(pool.map(one, items))


DEFAULT_HTTP_SOURCE = HttpSource()
"""The instance registered for ``http`` and ``https`` (one shared connection pool)."""
