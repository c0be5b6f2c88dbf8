"""Local files: allowed_schemes covers paths, hard links under a strict option, a link swapped in after the check."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

from st_multimodal import BlockedSourceError, FetchPolicy, as_image
from st_multimodal.resolvers import resolve
from st_multimodal.sources import file as file_module
from st_multimodal.sources.file import FileSource
from st_multimodal.types import ResolveContext

from .guards import Escape, confined

SECRET = b"\x89PNG secret outside the roots"


@pytest.fixture
def layout(tmp_path):
    """``root/`` (the allowed folder, where the case runs) and ``outside/secret.png`` (never to be read)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.png").write_bytes(SECRET)
    return root, outside / "secret.png"


def _ctx(**fields) -> ResolveContext:
    return ResolveContext(fetch_policy=FetchPolicy(**fields))


@pytest.mark.parametrize(
    "make",
    [
        lambda p: str(p),
        lambda p: pathlib.Path(p),
        lambda p: pathlib.Path(p).as_uri(),
        lambda p: as_image(str(p)),
        lambda p: {"image": {"bytes": None, "path": str(p)}},
    ],
    ids=["str-path", "pathlib", "file-uri", "as_image", "datasets-path"],
)
def test_allowed_schemes_without_file_refuses_local_paths_before_opening(make, layout):
    root, secret = layout
    ctx = _ctx(allowed_schemes={"https"})
    with confined(root), pytest.raises(BlockedSourceError, match="allowed_schemes") as info:
        resolve(make(secret), ctx, 3)
    assert info.value.index == 3


@pytest.mark.skipif(not os.path.exists("/etc/hostname"), reason="needs /etc/hostname")
@pytest.mark.parametrize("location", ["/etc/hostname", "file:///etc/hostname"])
def test_https_only_policy_does_not_read_etc_hostname(location, tmp_path):
    with confined(tmp_path), pytest.raises(BlockedSourceError):
        FileSource().fetch(location, _ctx(allowed_schemes={"https"}))


def test_the_guard_itself_catches_a_read_outside(layout):
    """The audit hook sees the open even when our code would happily read the file (policy allows it)."""
    root, secret = layout
    with pytest.raises(Escape, match="secret.png"), confined(root):
        with pytest.raises(Escape):
            FileSource().fetch(str(secret), _ctx())


def test_hard_link_inside_the_roots_is_read_by_default_and_refused_when_strict(layout):
    root, secret = layout
    link = root / "innocent.png"
    os.link(secret, link)
    assert FileSource().fetch(str(link), _ctx(file_roots=(str(root),))).data == SECRET  # the default: documented
    strict = _ctx(file_roots=(str(root),), refuse_hard_links=True)
    with pytest.raises(BlockedSourceError, match="hard links") as info:
        FileSource().fetch(str(link), strict)
    assert "secret" not in str(info.value)
    assert FileSource().signature(str(link), strict) is None
    single = root / "own.png"
    single.write_bytes(b"\x89PNG mine")
    assert FileSource().fetch(str(single), strict).data == b"\x89PNG mine"


@pytest.mark.skipif(sys.platform != "linux", reason="the swap is detected through /proc/self/fd")
@pytest.mark.parametrize("swapped", ["file", "directory"])
def test_link_swapped_in_after_the_root_check_is_refused(layout, monkeypatch, swapped):
    """Simulates the race: the path is checked while harmless, and is a link out of the root when opened."""
    root, secret = layout
    if swapped == "file":
        os.symlink(secret, root / "pic.png")
        location = root / "pic.png"
    else:
        os.symlink(secret.parent, root / "album")
        location = root / "album" / "secret.png"
    monkeypatch.setattr(file_module.os.path, "realpath", lambda p: os.path.abspath(p))  # the check saw no link
    with pytest.raises(BlockedSourceError, match="file_roots|symbolic link"):
        FileSource().fetch(str(location), _ctx(file_roots=(str(root),)))
