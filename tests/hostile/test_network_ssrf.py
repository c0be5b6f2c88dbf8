"""SSRF through the whole resolve path, watched by the audit hook rather than by our own connect guard.

The spellings, redirect targets and DNS tricks themselves are covered in tests/sources (test_http.py,
test_netguard.py); here a representative few go through ``resolve`` with the process-wide audit hook
on, which sees every socket and file the interpreter touches, whatever our code believes it does.
"""

from __future__ import annotations

import pytest

from st_multimodal import BlockedSourceError, FetchPolicy, UnsupportedInputError, as_image
from st_multimodal.resolvers import resolve
from st_multimodal.testing.server import LocalServer
from st_multimodal.types import ResolveContext

from .guards import confined

LOOPBACK_SPELLINGS = ["http://0x7f000001/", "http://2130706433/", "http://127.1/", "http://[::ffff:127.0.0.1]/"]
"""Refused directly; as redirect targets they need a policy that refuses loopback (tests/sources covers that)."""
TARGETS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://100.100.100.200/",
    "http://metadata.google.internal/",
    "file:///etc/passwd",
    "ftp://127.0.0.1/x",
]


@pytest.mark.parametrize("target", TARGETS + LOOPBACK_SPELLINGS)
def test_direct_url_is_refused_before_any_socket_or_file(target, tmp_path):
    with confined(tmp_path), pytest.raises((BlockedSourceError, UnsupportedInputError)):
        resolve(as_image(target), ResolveContext(fetch_policy=FetchPolicy(allow_files=False)), 0)


@pytest.mark.parametrize("target", TARGETS)
def test_redirect_is_refused_before_any_socket_or_file(target, tmp_path):
    with LocalServer() as server:
        url = server.redirect("/go", target)
        policy = FetchPolicy(allow_loopback=True, retries=0)
        with confined(tmp_path), pytest.raises(BlockedSourceError):  # ftp too: only http(s) hops are followed
            resolve(as_image(url), ResolveContext(fetch_policy=policy), 0)
        assert server.paths == ["/go"]
