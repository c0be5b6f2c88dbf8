"""FsspecSource: memory:// through fsspec, size cap, missing dependency, policy gates."""

from __future__ import annotations

import sys

import pytest

from st_multimodal.errors import BlockedSourceError, FetchError, LimitExceededError, MissingDependencyError
from st_multimodal.policy import FetchPolicy
from st_multimodal.sources import fetch
from st_multimodal.sources.fsspec_source import FsspecSource
from st_multimodal.types import ResolveContext

fsspec = pytest.importorskip("fsspec")


def ctx(**policy) -> ResolveContext:
    policy.setdefault("allowed_schemes", {"memory", "s3"})
    return ResolveContext(fetch_policy=FetchPolicy(**policy))


@pytest.fixture
def memfile():
    fs = fsspec.filesystem("memory")
    fs.pipe("/st-mm-test/a.bin", b"abc" * 100)
    yield "memory://st-mm-test/a.bin"
    fs.rm("/st-mm-test", recursive=True)


def test_reads_memory_file(memfile):
    got = fetch(memfile, ctx())
    assert (got.data, got.source, got.mime) == (b"abc" * 100, memfile, None)
    assert got.name.endswith("a.bin")


def test_missing_file(memfile):
    with pytest.raises(FetchError, match="no such file") as info:
        fetch("memory://st-mm-test/nope.bin", ctx())
    assert not info.value.transient


def test_directory_refused(memfile):
    with pytest.raises(FetchError, match="directory"):
        fetch("memory://st-mm-test", ctx())


def test_size_cap(memfile):
    with pytest.raises(LimitExceededError) as info:
        fetch(memfile, ctx(max_bytes=100))
    assert (info.value.limit, info.value.actual) == (100, 300)


def test_size_cap_while_reading_when_size_unknown(memfile, monkeypatch):
    fs = fsspec.filesystem("memory")
    info = fs.info
    monkeypatch.setattr(type(fs), "info", lambda self, path, **kw: {**info(path), "size": None})
    with pytest.raises(LimitExceededError) as err:
        fetch(memfile, ctx(max_bytes=100))
    assert err.value.actual == 101


def test_scheme_must_be_allowed(memfile):
    with pytest.raises(BlockedSourceError):
        fetch(memfile, ResolveContext())


def test_disabled_policy_blocks_remote_but_not_memory(memfile):
    assert fetch(memfile, ctx(enabled=False)).data
    with pytest.raises(BlockedSourceError, match="disabled"):
        FsspecSource().fetch("s3://bucket/key", ctx(enabled=False))


def test_missing_fsspec(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(MissingDependencyError) as info:
        fetch("memory://x", ctx())
    assert (info.value.package, info.value.extra) == ("fsspec", "fsspec")
    assert "[fsspec]" in str(info.value)


@pytest.mark.skipif("s3fs" in sys.modules or __import__("importlib").util.find_spec("s3fs"), reason="s3fs installed")
def test_missing_backend_is_named():
    with pytest.raises(MissingDependencyError) as info:
        fetch("s3://bucket/key.png", ctx())
    assert info.value.package == "s3fs"
