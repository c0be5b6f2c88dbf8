"""The shared loopback test server: routes, 404 by default, redirects, the request log, closing."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from st_multimodal.testing.server import LocalServer, send


def get(server: LocalServer, path: str, headers: dict[str, str] | None = None):
    """One GET on a fresh connection: (status, headers, body); redirects are not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


def test_route_answers_with_its_body_status_and_headers(server):
    url = server.route("/a.png", b"png", headers={"Content-Type": "image/png"})
    server.route("/gone", b"bye", status=410)
    assert url == f"http://127.0.0.1:{server.port}/a.png" == server.url("/a.png")
    status, headers, body = get(server, "/a.png")
    assert (status, headers["Content-Type"], headers["Content-Length"], body) == (200, "image/png", "3", b"png")
    assert get(server, "/gone")[0::2] == (410, b"bye")


def test_route_refuses_a_status_where_the_body_goes(server):
    with pytest.raises(TypeError, match="body must be bytes"):
        server.route("/r", 302)


def test_unknown_path_is_404(server):
    assert get(server, "/nothing-here")[0::2] == (404, b"not found")
    assert server.count("/nothing-here") == 1


def test_redirect(server):
    url = server.redirect("/go", "/target")
    assert url == server.url("/go")
    status, headers, _ = get(server, "/go")
    assert (status, headers["Location"]) == (302, "/target")
    server.redirect("/moved", "http://elsewhere.test/t", status=301)
    assert get(server, "/moved")[0] == 301 and server.paths == ["/go", "/moved"]


def test_custom_handler_and_send(server):
    server.routes["/custom"] = lambda h: server.send(h, 201, b"made", {"X-Test": "yes"})
    server.routes["/plain"] = lambda h: send(h, 200, b"plain body")  # the module-level helper, same contract
    status, headers, body = get(server, "/custom")
    assert (status, headers["X-Test"], headers["Content-Length"], body) == (201, "yes", "4", b"made")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:  # one kept-alive connection reads both answers back to back: each Content-Length is exact
        answers = []
        for path in ("/plain", "/custom"):
            connection.request("GET", path)
            response = connection.getresponse()
            answers.append((response.status, response.read()))
    finally:
        connection.close()
    assert answers == [(200, b"plain body"), (201, b"made")]


def test_request_log(server):
    server.route("/x", b"1")
    get(server, "/x", {"X-Probe": "one"})
    get(server, "/y?q=2")
    get(server, "/x")
    assert server.paths == ["/x", "/y?q=2", "/x"]
    assert (server.count("/x"), server.count("/y?q=2"), server.count("/z")) == (2, 1, 0)
    first = server.requests[0]
    assert first["path"] == "/x" and first["headers"]["X-Probe"] == "one"
    assert first["headers"]["Host"] == f"127.0.0.1:{server.port}"
    assert first["client"][0] == "127.0.0.1" and isinstance(first["client"][1], int)


def test_keep_alive_reuses_one_connection(server):
    server.route("/k", b"k")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for _ in range(2):
            connection.request("GET", "/k")
            assert connection.getresponse().read() == b"k"
    finally:
        connection.close()
    assert len({r["client"] for r in server.requests}) == 1


def test_in_flight_counters(server):
    release = threading.Event()
    arrived = threading.Barrier(3, timeout=5)

    def wait(h):
        arrived.wait()
        release.wait(5)
        send(h, 200, b"ok")

    server.routes["/wait"] = wait
    threads = [threading.Thread(target=get, args=(server, "/wait")) for _ in range(2)]
    for thread in threads:
        thread.start()
    arrived.wait()
    assert server.in_flight == 2
    release.set()
    for thread in threads:
        thread.join(5)
    deadline = time.monotonic() + 5  # a client can read its answer before the handler has finished counting
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (server.in_flight, server.max_in_flight) == (0, 2)


def test_url_with_another_host_name(server):
    assert server.url("/p", host="example.test") == f"http://example.test:{server.port}/p"
    assert server.url() == f"http://127.0.0.1:{server.port}/"


def test_context_manager_stops_serving_and_closes_the_socket():
    with LocalServer() as server:
        server.route("/ok", b"ok")
        assert get(server, "/ok")[0] == 200
        assert not server.stop.is_set()
    server.thread.join(5)
    assert server.stop.is_set() and not server.thread.is_alive()
    assert server.httpd.socket.fileno() == -1


def test_close_wakes_handlers_waiting_on_stop():
    server = LocalServer()

    def slow(h):
        assert server.stop.wait(30)
        send(h, 200, b"late")

    server.routes["/slow"] = slow
    answers = []
    client = threading.Thread(target=lambda: answers.append(get(server, "/slow")))
    client.start()
    while server.in_flight == 0:
        server.stop.wait(0.01)
    server.close()
    client.join(5)
    assert not client.is_alive() and answers[0][0::2] == (200, b"late")
