"""Cache hits for unchanged local files without reading them; changed files are always read again."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import st_multimodal as stm
from st_multimodal.pipeline.cache import EmbeddingCache
from st_multimodal.sources.file import FileSource
from st_multimodal.testing import media


@pytest.fixture
def counted_reads(monkeypatch):
    reads: list[str] = []
    original = FileSource._read

    def counting(self, location, policy, source):
        reads.append(str(source))
        return original(self, location, policy, source)

    monkeypatch.setattr(FileSource, "_read", counting)
    return reads


@pytest.fixture
def settled_now(monkeypatch):
    """Treat files as settled at once (the 2 s margin guards against coarse timestamps; tested separately)."""
    monkeypatch.setattr(EmbeddingCache, "settle_seconds", 0.0)


def _images(folder, n: int) -> list[str]:
    paths = []
    for i in range(n):
        path = folder / f"img{i}.jpg"
        path.write_bytes(media.jpeg_bytes(64, 48, seed=i))
        paths.append(str(path))
    return paths


class TestUnchangedFilesAreNotRead:
    def test_second_pass_reads_nothing_and_is_identical(self, zoo_path, tmp_path, counted_reads, settled_now):
        paths = _images(tmp_path, 6)
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=tmp_path / "cache")
        first = model.encode(paths + ["a caption"])
        assert len(counted_reads) == 6
        counted_reads.clear()
        second = model.encode(paths + ["a caption"])
        assert counted_reads == [] and model.embedding_cache.hits == 7
        assert np.array_equal(first, second)

    def test_a_file_changed_in_place_is_read_again(self, zoo_path, tmp_path, counted_reads, settled_now):
        paths = _images(tmp_path, 3)
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=tmp_path / "cache")
        model.encode(paths)
        before = os.stat(paths[1])
        replacement = media.jpeg_bytes(64, 48, seed=99)
        with open(paths[1], "r+b") as handle:  # same path, same inode; content changed
            handle.write(replacement)
            handle.truncate(len(replacement))
        os.utime(paths[1], ns=(before.st_atime_ns, before.st_mtime_ns))  # even with the old mtime put back
        counted_reads.clear()
        again = model.encode(paths)
        assert counted_reads == [paths[1]]  # ctime moved: only the changed file is read
        fresh = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu").encode(paths)
        np.testing.assert_allclose(again, fresh, rtol=1e-5, atol=1e-5)  # the new content, not the cached old one

    def test_a_replaced_file_is_read_again(self, zoo_path, tmp_path, counted_reads, settled_now):
        paths = _images(tmp_path, 2)
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=tmp_path / "cache")
        model.encode(paths)
        other = tmp_path / "other.jpg"
        other.write_bytes(media.jpeg_bytes(64, 48, seed=42))
        os.replace(other, paths[0])  # another inode under the same name
        counted_reads.clear()
        model.encode(paths)
        assert counted_reads == [paths[0]]

    def test_policy_still_applies(self, zoo_path, tmp_path, counted_reads, settled_now):
        paths = _images(tmp_path, 2)
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=tmp_path / "cache")
        model.encode(paths)
        with pytest.raises(stm.BlockedSourceError) as info:
            model.encode(paths, fetch_policy=stm.FetchPolicy(allow_files=False))
        assert info.value.index == 0
        elsewhere = tmp_path / "root"
        elsewhere.mkdir()
        with pytest.raises(stm.BlockedSourceError):
            model.encode(paths, fetch_policy=stm.FetchPolicy(file_roots=[str(elsewhere)]))

    def test_other_models_and_settings_do_not_hit(self, zoo_path, tmp_path, counted_reads, settled_now):
        paths = _images(tmp_path, 2)
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=tmp_path / "cache")
        model.encode(paths)
        hits = model.embedding_cache.hits
        model.encode(paths, limits=stm.DecodeLimits(max_pixels=10_000_000))
        assert model.embedding_cache.hits == hits  # other decode settings: other keys (the memo is reused)
        assert counted_reads.count(paths[0]) == 2  # a miss: read again, to be decoded


class TestFreshFilesAreNotRemembered:
    def test_files_changed_within_the_margin_are_read_every_time(self, zoo_path, tmp_path, counted_reads):
        paths = _images(tmp_path, 2)  # just written: within the 2 s margin
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=tmp_path / "cache")
        model.encode(paths)
        counted_reads.clear()
        model.encode(paths)
        assert sorted(counted_reads) == sorted(paths)  # read and hashed, then answered from the cache
        assert model.embedding_cache.hits == 2

    def test_settled_rule(self):
        from st_multimodal.sources.file import FileSignature

        now = time.time_ns()
        young = FileSignature("/x", 1, 2, 3, now - 10**9, now - 10**9)
        old = FileSignature("/x", 1, 2, 3, now - 5 * 10**9, now - 3 * 10**9)
        assert not young.settled(now) and old.settled(now) and young.settled(now, 0.5)


class TestNotForOtherResolvers:
    def test_a_plugin_resolver_ahead_of_files_disables_the_shortcut(self, zoo_path, tmp_path, counted_reads, settled_now):
        paths = _images(tmp_path, 2)
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu", cache_dir=tmp_path / "cache")
        model.encode(paths)

        class Passing:
            def resolve(self, value, ctx):
                return None

        stm.register_resolver("plugin", Passing(), before="path")
        counted_reads.clear()
        model.encode(paths)
        assert sorted(counted_reads) == sorted(paths)
