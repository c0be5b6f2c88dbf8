"""The sources package: built-ins registered, public names exported, dispatch by scheme."""

from __future__ import annotations

import pytest

import st_multimodal.sources as sources
from st_multimodal.errors import UnsupportedInputError
from st_multimodal.registry import RegistryError
from st_multimodal.sources import SOURCES, HttpSource, fetch, register_source, scheme_of
from st_multimodal.types import FetchedBytes, ResolveContext


def test_every_public_name_is_exported():
    for name in ("fetch", "fetch_many", "register_source", "SOURCES", "scheme_of", "HttpSource", "Source"):
        assert name in sources.__all__ and hasattr(sources, name)


def test_builtin_schemes():
    assert set(SOURCES.names()) >= {"file", "http", "https", "data", "s3", "gs", "gcs", "hf", "memory", "az", "abfs"}


def test_http_and_https_share_one_source():
    http, https = SOURCES.get("http"), SOURCES.get("https")
    assert http is https and isinstance(http, HttpSource)


@pytest.mark.parametrize(
    "location, scheme",
    [("HTTPS://x/y", "https"), ("/a/b.png", None), (r"C:\a.png", None), ("s3://b/k", "s3"), ("data:,x", "data")],
)
def test_scheme_of(location, scheme):
    assert scheme_of(location) == scheme


def test_custom_source_and_clobber():
    class Echo:
        def fetch(self, location, ctx):
            return FetchedBytes(data=location.encode(), source=location)

    register_source("echo", Echo())
    with pytest.raises(RegistryError):
        register_source("echo", Echo())
    policy = ResolveContext().fetch_policy.replace(allowed_schemes={"echo"})
    assert fetch("echo:hi", ResolveContext(fetch_policy=policy)).data == b"echo:hi"


def test_unknown_scheme():
    with pytest.raises(UnsupportedInputError, match="gopher"):
        fetch("gopher://x/y", ResolveContext())
