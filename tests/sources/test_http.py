"""HttpSource against a real server on 127.0.0.1: status codes, retries, deadline, size cap, redirects, address checks."""

from __future__ import annotations

import ssl
import threading

import httpx
import psutil
import pytest

from st_multimodal.errors import BlockedSourceError, FetchError, LimitExceededError
from st_multimodal.policy import FetchPolicy
from st_multimodal.sources import HttpSource, netguard
from st_multimodal.types import ResolveContext

MiB = 1024 * 1024


@pytest.fixture
def source():
    src = HttpSource()
    yield src
    src.close()


def _raised(call, *args):
    """The exception ``call(*args)`` raised (None if it returned)."""
    try:
        call(*args)
    except Exception as exc:
        return exc
    return None


def _counter_route(server, path, statuses, body=b"ok", headers=None):
    """Answer with each status in turn (the last one repeats)."""
    queue = list(statuses)

    def handle(h):
        status = queue.pop(0) if len(queue) > 1 else queue[0]
        server.send(h, status, body if status == 200 else b"err", headers if status != 200 else None)

    server.routes[path] = handle
    return server.url(path)


class TestStatus:
    def test_ok_returns_body_mime_and_name(self, server, source, local_ctx):
        url = server.route("/img.png", body=b"hello", headers={"Content-Type": "Image/PNG; charset=x"})
        got = source.fetch(url, local_ctx())
        assert (got.data, got.mime, got.name, got.source) == (b"hello", "image/png", "/img.png", url)
        assert server.requests[0]["headers"]["Accept-Encoding"] == "identity"

    def test_404_is_permanent_and_not_retried(self, server, source, local_ctx):
        with pytest.raises(FetchError) as info:
            source.fetch(server.url("/missing"), local_ctx(retries=3))
        assert (info.value.status, info.value.transient) == (404, False)
        assert server.count("/missing") == 1
        assert "/missing" in str(info.value)

    def test_503_is_retried_then_succeeds(self, server, source, local_ctx):
        url = _counter_route(server, "/flaky", [503, 503, 200])
        assert source.fetch(url, local_ctx(retries=2)).data == b"ok"
        assert server.count("/flaky") == 3

    def test_503_gives_up_after_policy_retries(self, server, source, local_ctx):
        url = _counter_route(server, "/down", [503])
        with pytest.raises(FetchError) as info:
            source.fetch(url, local_ctx(retries=2))
        assert (info.value.status, info.value.transient) == (503, True)
        assert server.count("/down") == 3

    def test_429_is_transient_and_honours_retry_after(self, server, source, local_ctx):
        url = _counter_route(server, "/busy", [429, 200], headers={"Retry-After": "0"})
        assert source.fetch(url, local_ctx(retries=1)).data == b"ok"
        slow = _counter_route(server, "/busy-long", [429], headers={"Retry-After": "3600"})
        outcome = []
        fetching = threading.Thread(target=lambda: outcome.append(_raised(source.fetch, slow, local_ctx(retries=3))))
        fetching.start()
        fetching.join(60)  # a client that waited out Retry-After (an hour, past the 30 s deadline) would still be here
        assert not fetching.is_alive()
        (error,) = outcome
        assert isinstance(error, FetchError) and (error.status, error.transient) == (429, True)
        assert server.count("/busy-long") == 1  # gave up at once instead of retrying after the deadline

    def test_redirect_without_location_is_an_error(self, server, source, local_ctx):
        with pytest.raises(FetchError, match="Location"):
            source.fetch(server.route("/r", status=302), local_ctx())

    def test_refused_connection_is_transient(self, source, local_ctx):
        with pytest.raises(FetchError) as info:
            source.fetch("http://127.0.0.1:1/x", local_ctx(retries=1))
        assert info.value.transient and info.value.status is None

    def test_disabled_policy_blocks_everything(self, server, source, local_ctx):
        with pytest.raises(BlockedSourceError, match="disabled"):
            source.fetch(server.route("/ok", body=b"x"), local_ctx(enabled=False))
        assert server.requests == []


class TestDeadline:
    def test_slow_server_fails_at_the_deadline(self, server, source, local_ctx):
        release, answered = threading.Event(), threading.Event()

        def slow(h):  # answers only once the test releases it (or after 30 s if the deadline never fires)
            release.wait(30)
            server.send(h, 200, b"late")
            answered.set()

        server.routes["/slow"] = slow
        try:
            with pytest.raises(FetchError, match="deadline of 1 s") as info:
                source.fetch(server.url("/slow"), local_ctx(timeout=1.0, retries=2))
            assert not answered.is_set()  # the fetch gave up while the server was still holding the answer
        finally:
            release.set()
        assert server.count("/slow") == 1  # the deadline covers the retries too: none was made
        assert info.value.transient

    def test_drip_feed_fails_at_the_deadline(self, server, source, local_ctx):
        sent = []  # bytes written so far; each arrives well within the connect/read timeouts

        def drip(h):
            h.send_response(200)
            h.send_header("Content-Length", "100")
            h.end_headers()
            for _ in range(100):  # 5 s in all: far past the 1 s deadline
                if server.stop.wait(0.05):
                    return
                h.wfile.write(b"x")
                h.wfile.flush()
                sent.append(1)

        server.routes["/drip"] = drip
        with pytest.raises(FetchError, match="deadline") as info:
            source.fetch(server.url("/drip"), local_ctx(timeout=1.0))
        sent_when_cut = len(sent)
        assert 0 < sent_when_cut < 100  # cut off mid-body: the deadline covers the whole transfer
        assert info.value.transient


class TestSizeCap:
    def test_declared_length_over_cap_is_refused_early(self, server, source, local_ctx):
        url = server.stream("/big", 300 * MiB, content_length=True)
        with pytest.raises(LimitExceededError) as info:
            source.fetch(url, local_ctx(max_bytes=MiB))
        assert (info.value.limit_name, info.value.limit, info.value.actual) == ("max_bytes", MiB, 300 * MiB)

    def test_endless_body_without_length_is_cut_off_with_small_memory(self, server, source, local_ctx):
        written, finished = [], threading.Event()

        def endless(h):  # 300 MiB without a Content-Length, counting what the client accepted
            h.send_response(200)
            h.send_header("Connection", "close")
            h.close_connection = True
            h.end_headers()
            chunk = b"\0" * (64 * 1024)
            try:
                for _ in range(300 * MiB // len(chunk)):
                    h.wfile.write(chunk)
                    written.append(len(chunk))
            except OSError:  # the client hung up
                pass
            finally:
                finished.set()

        server.routes["/endless"] = endless
        process = psutil.Process()
        before = process.memory_info().rss
        with pytest.raises(LimitExceededError) as info:
            source.fetch(server.url("/endless"), local_ctx(max_bytes=MiB))
        growth = process.memory_info().rss - before
        assert info.value.limit_name == "max_bytes" and MiB < info.value.actual <= MiB + 256 * 1024
        assert growth < 32 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"
        assert finished.wait(60)
        assert sum(written) < 64 * MiB  # the connection was dropped at the cap, not drained to the end

    def test_body_exactly_at_cap_is_accepted(self, server, source, local_ctx):
        url = server.route("/exact", body=b"a" * 1000)
        assert len(source.fetch(url, local_ctx(max_bytes=1000)).data) == 1000


class TestRedirects:
    def test_chain_within_limit_is_followed(self, server, source, local_ctx):
        server.route("/r1", status=301, headers={"Location": "/r2"})
        server.route("/r2", status=307, headers={"Location": server.url("/end")})
        server.route("/end", body=b"done", headers={"Content-Type": "text/plain"})
        got = source.fetch(server.url("/r1"), local_ctx(max_redirects=2))
        assert (got.data, got.name, got.source) == (b"done", "/end", server.url("/r1"))

    def test_loop_is_detected(self, server, source, local_ctx):
        server.route("/a", status=302, headers={"Location": "/b"})
        server.route("/b", status=302, headers={"Location": "/a"})
        with pytest.raises(FetchError, match="loop") as info:
            source.fetch(server.url("/a"), local_ctx(max_redirects=10))
        assert not info.value.transient
        assert server.count("/a") == 1 and server.count("/b") == 1

    def test_too_many_redirects(self, server, source, local_ctx):
        for i in range(5):
            server.route(f"/hop{i}", status=302, headers={"Location": f"/hop{i + 1}"})
        with pytest.raises(FetchError, match="more than 2 redirects"):
            source.fetch(server.url("/hop0"), local_ctx(max_redirects=2))
        assert server.count("/hop3") == 0

    @pytest.mark.parametrize(
        "target",
        [
            "file:///etc/passwd",
            "data:text/plain,hi",
            "ftp://127.0.0.1/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[fd00:ec2::254]/",
            "http://metadata.google.internal/",
        ],
    )
    def test_redirect_to_forbidden_target_is_blocked_before_connecting(
        self, server, source, local_ctx, connection_log, target
    ):
        url = server.route("/go", status=302, headers={"Location": target})
        with pytest.raises(BlockedSourceError):
            source.fetch(url, local_ctx(allowed_schemes={"http", "https", "file", "data", "ftp"}))
        assert connection_log == []
        assert server.count("/go") == 1

    def test_redirect_to_loopback_is_blocked_when_loopback_is_off(self, server, source, monkeypatch):
        real = netguard.block_reason
        # Pretend the test server's 127.0.0.1 is public so the first hop is allowed.
        monkeypatch.setattr(netguard, "block_reason", lambda ip, p: None if str(ip) == "127.0.0.1" else real(ip, p))
        url = server.route("/go", status=302, headers={"Location": f"http://0x7f000002:{server.port}/"})
        with pytest.raises(BlockedSourceError, match="loopback"):
            source.fetch(url, ResolveContext(fetch_policy=FetchPolicy()))
        assert server.count("/go") == 1


class TestAddresses:
    def test_loopback_is_blocked_by_default(self, server, source):
        url = server.route("/ok", body=b"x")
        with pytest.raises(BlockedSourceError, match="loopback"):
            source.fetch(url, ResolveContext())
        assert server.requests == []

    SPELLINGS = ["2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]", "0177.0.0.1", "0x7f.1", "127.0.0.1."]

    @pytest.mark.parametrize("host", SPELLINGS)
    def test_alternate_spellings_of_loopback_are_blocked(self, server, source, host):
        with pytest.raises(BlockedSourceError, match="loopback"):
            source.fetch(server.url("/ok", host=host), ResolveContext())
        assert server.requests == []

    @pytest.mark.parametrize("host", SPELLINGS)
    def test_alternate_spellings_reach_the_canonical_address_when_allowed(self, server, source, local_ctx, host):
        server.route("/ok", body=b"x")
        got = source.fetch(server.url("/ok", host=host), local_ctx())
        assert got.data == b"x" and got.source == server.url("/ok", host=host)  # named as the user spelled it
        assert server.paths == ["/ok"] and server.requests[0]["client"][0] == "127.0.0.1"  # one request, over loopback

    def test_dns_rebinding_connects_only_to_the_checked_address(
        self, server, source, local_ctx, fake_dns, connection_log
    ):
        server.route("/ok", body=b"x")
        fake_dns.add("rebind.test", ["127.0.0.1"], ["10.0.0.1"])
        url = server.url("/ok", host="rebind.test")
        assert source.fetch(url, local_ctx()).data == b"x"
        assert fake_dns.calls == ["rebind.test"]
        assert server.requests[0]["headers"]["Host"] == f"rebind.test:{server.port}"
        with pytest.raises(BlockedSourceError, match="10.0.0.1"):
            source.fetch(url, local_ctx())
        assert connection_log == [] and server.count("/ok") == 1

    def test_every_resolved_address_is_checked(self, server, source, local_ctx, fake_dns, connection_log):
        fake_dns.add("mixed.test", ["127.0.0.1", "10.0.0.1"])
        with pytest.raises(BlockedSourceError, match="private"):
            source.fetch(server.url("/ok", host="mixed.test"), local_ctx())
        assert connection_log == [] and server.requests == []

    def test_domain_allow_and_deny_lists(self, server, source, local_ctx, fake_dns):
        server.route("/ok", body=b"x")
        fake_dns.add("img.example.com", ["127.0.0.1"])
        fake_dns.add("notexample.com", ["127.0.0.1"])
        url = server.url("/ok", host="img.example.com")
        assert source.fetch(url, local_ctx(allowed_domains=("Example.COM.",))).data == b"x"
        for policy in ({"allowed_domains": ("other.org",)}, {"denied_domains": ("example.com",)}):
            with pytest.raises(BlockedSourceError, match="domains"):
                source.fetch(url, local_ctx(**policy))
        with pytest.raises(BlockedSourceError, match="allowed_domains"):
            source.fetch(server.url("/ok", host="notexample.com"), local_ctx(allowed_domains=("example.com",)))
        assert server.count("/ok") == 1

    def test_transport_refuses_unchecked_connections(self, server, source):
        client = httpx.Client(transport=source._transport(FetchPolicy(allow_loopback=True)))
        with pytest.raises(httpx.ConnectError, match="not checked"):
            client.get(server.route("/ok", body=b"x"))
        assert server.requests == []


class TestPoolAndConcurrency:
    def test_connection_is_reused(self, server, source, local_ctx):
        url = server.route("/ok", body=b"x")
        for _ in range(3):
            assert source.fetch(url, local_ctx()).data == b"x"
        assert len({r["client"] for r in server.requests}) == 1

    def test_fetch_many_is_bounded_and_keeps_order(self, server, source, local_ctx):
        together = threading.Barrier(3, timeout=20)  # each answer waits until three requests are in flight at once

        def answer(h, i):
            together.wait()
            server.send(h, 200, str(i).encode())

        for i in range(6):
            server.routes[f"/s{i}"] = lambda h, i=i: answer(h, i)
        urls = [server.url(f"/s{i}") for i in range(6)] + [server.url("/missing"), "http://10.0.0.1/"]
        results = source.fetch_many(urls, local_ctx(max_concurrency=3, retries=0, timeout=60))
        assert [getattr(r, "data", r) for r in results[:6]] == [str(i).encode() for i in range(6)]
        assert isinstance(results[6], FetchError) and results[6].status == 404
        assert isinstance(results[7], BlockedSourceError)
        assert server.max_in_flight == 3  # concurrent (the barrier needed three), never more than the policy allows

    def test_module_fetch_many_dispatches_by_scheme(self, server, local_ctx):
        from st_multimodal.sources import fetch_many

        url = server.route("/ok", body=b"x")
        results = fetch_many([url, "data:,hi", "/no/such/file"], local_ctx())
        assert [getattr(r, "data", None) for r in results] == [b"x", b"hi", None]
        assert "no such file" in str(results[2])


class TestTLS:
    @pytest.fixture
    def tls_source(self, tls_cert):
        src = HttpSource(ssl_context=ssl.create_default_context(cafile=str(tls_cert[0])))
        yield src
        src.close()

    def test_pinned_connection_still_verifies_the_host_name(self, tls_server, tls_source, local_ctx, fake_dns):
        tls_server.route("/ok", body=b"secure")
        fake_dns.add("tls.test", ["127.0.0.1"])
        got = tls_source.fetch(tls_server.url("/ok", host="tls.test"), local_ctx())
        assert got.data == b"secure"
        assert tls_server.sni == ["tls.test"]
        assert tls_server.requests[0]["headers"]["Host"] == f"tls.test:{tls_server.port}"

    def test_wrong_name_fails_verification_without_retry(self, tls_server, tls_source, local_ctx, fake_dns):
        tls_server.route("/ok", body=b"secure")
        fake_dns.add("other.test", ["127.0.0.1"])
        with pytest.raises(FetchError, match="certificate") as info:
            tls_source.fetch(tls_server.url("/ok", host="other.test"), local_ctx(retries=2))
        assert not info.value.transient and fake_dns.calls == ["other.test"]
        assert tls_server.requests == []


class TestHygiene:
    def test_cookies_are_not_kept_between_fetches(self, server, source, local_ctx):
        url = server.route("/c", body=b"x", headers={"Set-Cookie": "session=abc; Path=/"})
        source.fetch(url, local_ctx())
        source.fetch(url, local_ctx())
        assert all("Cookie" not in r["headers"] for r in server.requests)

    def test_credentials_are_not_shown_in_errors(self, server, source, local_ctx):
        with pytest.raises(FetchError) as info:
            source.fetch(f"http://user:hunter2@127.0.0.1:{server.port}/missing", local_ctx())
        assert "hunter2" not in str(info.value) and "hunter2" not in info.value.source

    def test_errors_survive_pickling(self, server, source, local_ctx):
        import pickle

        url = _counter_route(server, "/busy", [429], headers={"Retry-After": "3600"})
        with pytest.raises(FetchError) as info:
            source.fetch(url, local_ctx(retries=0))
        copy = pickle.loads(pickle.dumps(info.value))
        assert (copy.status, copy.transient, str(copy)) == (429, True, str(info.value))


def test_next_checked_address_is_tried_when_the_first_refuses(server, source, local_ctx, fake_dns, connection_log):
    server.route("/ok", body=b"x")
    fake_dns.add("two.test", ["127.0.0.2", "127.0.0.1"])  # nothing listens on 127.0.0.2
    assert source.fetch(server.url("/ok", host="two.test"), local_ctx(retries=0)).data == b"x"
    assert connection_log == []
