"""FileSource: paths and file:// URIs, roots and symlinks, size cap, refusals."""

from __future__ import annotations

import os
import pathlib
from urllib.parse import quote

import pytest

from st_multimodal.errors import BlockedSourceError, FetchError, LimitExceededError
from st_multimodal.policy import FetchPolicy
from st_multimodal.sources import fetch, scheme_of
from st_multimodal.sources.file import FileSource, path_from_location
from st_multimodal.types import ResolveContext


def ctx(**policy) -> ResolveContext:
    return ResolveContext(fetch_policy=FetchPolicy(**policy))


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "dir with space" / "pic #1.png"
    path.parent.mkdir()
    path.write_bytes(b"\x89PNG data")
    return path


class TestLocations:
    def test_str_path_and_pathlike(self, image):
        for location in (str(image), image):
            got = FileSource().fetch(location, ctx())
            assert (got.data, got.name, got.mime) == (b"\x89PNG data", str(image), None)

    def test_file_uri_with_percent_encoding(self, image):
        uri = image.as_uri()
        assert "%20" in uri and "%23" in uri
        assert fetch(uri, ctx()).data == b"\x89PNG data"
        assert fetch("file://localhost" + quote(str(image)), ctx()).data == b"\x89PNG data"

    def test_home_is_expanded(self, image, monkeypatch):
        monkeypatch.setenv("HOME", str(image.parent.parent))
        assert fetch("~/dir with space/pic #1.png", ctx()).data == b"\x89PNG data"

    def test_windows_drive_paths_are_paths(self):
        assert scheme_of(r"C:\x\y.png") is None and scheme_of("C:/x/y.png") is None
        with pytest.raises(FetchError, match="no such file"):
            fetch(r"C:\x\y.png", ctx())

    def test_windows_file_uri(self):
        expected = "C:/x/y.png" if os.name == "nt" else "/C:/x/y.png"
        assert path_from_location("file:///C:/x/y.png") == expected
        assert path_from_location("file://C:/x/y.png").endswith("C:/x/y.png")

    def test_remote_file_host_is_blocked(self):
        with pytest.raises(BlockedSourceError, match="remote host"):
            fetch("file://fileserver/share/x.png", ctx())


class TestRefusals:
    def test_missing_file(self, tmp_path):
        with pytest.raises(FetchError, match="no such file") as info:
            fetch(str(tmp_path / "nope.png"), ctx())
        assert (info.value.status, info.value.transient) == (None, False)
        assert info.value.source == str(tmp_path / "nope.png")

    def test_directory(self, tmp_path):
        with pytest.raises(FetchError, match="directory"):
            fetch(str(tmp_path), ctx())

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
    def test_fifo_is_not_read(self, tmp_path):
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(FetchError, match="regular file"):
            fetch(str(tmp_path / "pipe"), ctx())

    def test_size_over_cap_is_refused_before_reading(self, tmp_path):
        sparse = tmp_path / "huge.bin"
        with open(sparse, "wb") as f:
            f.truncate(10 * 1024**3)
        with pytest.raises(LimitExceededError) as info:
            fetch(str(sparse), ctx(max_bytes=1024))
        assert (info.value.limit_name, info.value.limit, info.value.actual) == ("max_bytes", 1024, 10 * 1024**3)

    def test_files_disallowed(self, image):
        with pytest.raises(BlockedSourceError, match="allow_files"):
            fetch(str(image), ctx(allow_files=False))
        with pytest.raises(BlockedSourceError, match="allow_files"):
            fetch(image.as_uri(), ctx(allow_files=False))


class TestRoots:
    def test_inside_root(self, image):
        assert fetch(str(image), ctx(file_roots=(str(image.parent.parent),))).data == b"\x89PNG data"

    def test_outside_root(self, image, tmp_path):
        other = tmp_path / "root"
        other.mkdir()
        with pytest.raises(BlockedSourceError, match="file_roots"):
            fetch(str(image), ctx(file_roots=(str(other),)))

    def test_dotdot_escape(self, image, tmp_path):
        root = tmp_path / "root"
        root.mkdir()
        with pytest.raises(BlockedSourceError, match="file_roots"):
            fetch(str(root / ".." / "dir with space" / "pic #1.png"), ctx(file_roots=(str(root),)))

    def test_symlink_escape(self, tmp_path):
        root = tmp_path / "root"
        root.mkdir()
        secret = tmp_path / "secret.txt"
        secret.write_text("secret")
        (root / "link.png").symlink_to(secret)
        (root / "sub").symlink_to(tmp_path)
        for location in (root / "link.png", root / "sub" / "secret.txt"):
            with pytest.raises(BlockedSourceError, match="file_roots"):
                fetch(str(location), ctx(file_roots=(str(root),)))

    def test_symlink_inside_root_and_root_itself_a_symlink(self, tmp_path):
        real_root = tmp_path / "real"
        real_root.mkdir()
        (real_root / "a.bin").write_bytes(b"a")
        (real_root / "b.bin").symlink_to(real_root / "a.bin")
        alias = tmp_path / "alias"
        alias.symlink_to(real_root)
        assert fetch(str(alias / "b.bin"), ctx(file_roots=(str(alias),))).data == b"a"

    def test_prefix_sibling_is_not_inside(self, tmp_path):
        (tmp_path / "data").mkdir()
        (tmp_path / "data-evil").mkdir()
        (tmp_path / "data-evil" / "x").write_bytes(b"x")
        with pytest.raises(BlockedSourceError):
            fetch(str(tmp_path / "data-evil" / "x"), ctx(file_roots=(str(tmp_path / "data"),)))


def test_pathlib_roots_are_accepted(image):
    policy = FetchPolicy(file_roots=(pathlib.Path(image.parent),))
    assert FileSource().fetch(image, ResolveContext(fetch_policy=policy)).data == b"\x89PNG data"


class TestReadCapped:
    """The read asks for the size ``fstat`` gave (+1); a size that changed since is still read right."""

    @staticmethod
    def read_pipe(payload: bytes, expected: int, max_bytes: int) -> bytes:
        from st_multimodal.sources.file import _read_capped

        read_end, write_end = os.pipe()
        try:
            os.write(write_end, payload)
            os.close(write_end)
            write_end = -1
            return _read_capped(read_end, max_bytes, expected=expected)
        finally:
            os.close(read_end)
            if write_end != -1:
                os.close(write_end)

    @pytest.mark.parametrize("expected", [0, 10, 3000, 5000])
    def test_whole_content_whatever_the_expected_size(self, expected):
        payload = bytes(range(256)) * 12  # 3,072 bytes: more, equal or less than expected
        assert self.read_pipe(payload, expected, max_bytes=10_000) == payload

    def test_growth_past_the_cap_is_refused(self):
        with pytest.raises(LimitExceededError) as info:
            self.read_pipe(b"x" * 2000, expected=100, max_bytes=1000)
        assert (info.value.limit_name, info.value.limit) == ("max_bytes", 1000)

    def test_exactly_the_cap_is_read(self):
        assert self.read_pipe(b"y" * 1000, expected=1000, max_bytes=1000) == b"y" * 1000

    def test_a_file_that_grew_after_fstat(self, tmp_path, monkeypatch):
        import st_multimodal.sources.file as file_module

        path = tmp_path / "growing.bin"
        path.write_bytes(b"a" * 100)
        real_fstat = os.fstat

        def stale_fstat(fd):  # the size seen before another writer appended
            info = real_fstat(fd)
            with open(path, "ab") as out:
                out.write(b"b" * 50)
            return info

        monkeypatch.setattr(file_module.os, "fstat", stale_fstat)
        assert FileSource().fetch(str(path), ctx()).data == b"a" * 100 + b"b" * 50
