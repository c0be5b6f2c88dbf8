"""FetchPolicy and DecodeLimits: what they accept, what they refuse (naming the field), and how they normalise."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from st_multimodal.policy import DEFAULT_DECODE_LIMITS, DEFAULT_FETCH_POLICY, DecodeLimits, FetchPolicy


class TestFetchPolicyNormalises:
    def test_schemes_and_domains_are_lower_case_without_outer_dots(self):
        policy = FetchPolicy(allowed_schemes={"HTTPS", "Data"}, allowed_domains=["Img.Example.COM.", ".cdn.test"],
                             denied_domains=["Bad.Example.", "..EVIL.test.."])
        assert policy.allowed_schemes == frozenset({"https", "data"}) and isinstance(policy.allowed_schemes, frozenset)
        assert policy.allowed_domains == ("img.example.com", "cdn.test")
        assert policy.denied_domains == ("bad.example", "evil.test")

    def test_no_allow_list_stays_none(self):
        assert FetchPolicy().allowed_domains is None and FetchPolicy().file_roots is None

    def test_file_roots_become_strings(self, tmp_path):
        policy = FetchPolicy(file_roots=[tmp_path, Path("/srv/media")])
        assert policy.file_roots == (str(tmp_path), "/srv/media")

    def test_defaults(self):
        policy = FetchPolicy()
        assert policy.enabled and policy.allow_files and not policy.allow_loopback and not policy.allow_private
        assert policy.allowed_schemes == frozenset({"http", "https", "data", "file"})
        assert (policy.timeout, policy.max_bytes, policy.max_redirects, policy.retries) == (30.0, 64 * 2**20, 5, 2)
        assert DEFAULT_FETCH_POLICY == policy


class TestFetchPolicyRefuses:
    @pytest.mark.parametrize("name", ["timeout", "connect_timeout"])
    @pytest.mark.parametrize("value", [0, -1.0])
    def test_times_must_be_positive(self, name, value):
        with pytest.raises(ValueError, match=rf"^FetchPolicy\.{name} must be > 0, got {value}$"):
            FetchPolicy(**{name: value})

    @pytest.mark.parametrize("name", ["timeout", "connect_timeout"])
    def test_any_positive_time_is_accepted(self, name):
        assert getattr(FetchPolicy(**{name: 0.001}), name) == 0.001

    @pytest.mark.parametrize("name", ["max_bytes", "max_concurrency"])
    def test_sizes_must_be_at_least_one(self, name):
        with pytest.raises(ValueError, match=rf"^FetchPolicy\.{name} must be >= 1, got 0$"):
            FetchPolicy(**{name: 0})
        assert getattr(FetchPolicy(**{name: 1}), name) == 1

    @pytest.mark.parametrize("name", ["max_redirects", "retries"])
    def test_counts_may_be_zero_but_not_negative(self, name):
        with pytest.raises(ValueError, match=rf"^FetchPolicy\.{name} must be >= 0, got -1$"):
            FetchPolicy(**{name: -1})
        assert getattr(FetchPolicy(**{name: 0}), name) == 0

    def test_replace_is_validated_and_leaves_the_original(self):
        policy = FetchPolicy(retries=3)
        with pytest.raises(ValueError, match="retries"):
            policy.replace(retries=-1)
        changed = policy.replace(allowed_domains=["A.test"])
        assert changed.allowed_domains == ("a.test",) and changed.retries == 3
        assert policy.allowed_domains is None

    def test_frozen(self):
        with pytest.raises(dataclasses.FrozenInstanceError):
            FetchPolicy().timeout = 1.0  # type: ignore[misc]


def test_offline_turns_remote_fetching_off_and_nothing_else():
    offline = FetchPolicy.offline()
    assert offline == FetchPolicy(enabled=False) and offline.enabled is False
    assert dataclasses.replace(offline, enabled=True) == FetchPolicy()


class TestDecodeLimits:
    def test_defaults(self):
        limits = DecodeLimits()
        assert limits == DEFAULT_DECODE_LIMITS
        assert (limits.max_pixels, limits.image_background, limits.animated_frame) == (89_478_485, (255, 255, 255), 0)
        assert (limits.video_fps, limits.max_video_frames, limits.video_num_frames) == (2.0, 32, None)

    @pytest.mark.parametrize("changes, words", [
        ({"max_pixels": 0}, r"^DecodeLimits\.max_pixels must be >= 1, got 0$"),
        ({"max_video_frames": 0}, r"^DecodeLimits video frame counts must be >= 1$"),
        ({"video_num_frames": 0}, r"^DecodeLimits video frame counts must be >= 1$"),
        ({"video_fps": 0}, r"^DecodeLimits\.video_fps and max_audio_seconds must be > 0$"),
        ({"max_audio_seconds": 0}, r"^DecodeLimits\.video_fps and max_audio_seconds must be > 0$"),
        ({"pdf_dpi": 0}, r"^DecodeLimits\.pdf_dpi must be > 0, pdf_max_pixels_per_page and pdf_max_pages >= 1$"),
        ({"pdf_max_pixels_per_page": 0}, r"pdf_max_pixels_per_page and pdf_max_pages >= 1$"),
        ({"pdf_max_pages": 0}, r"pdf_max_pixels_per_page and pdf_max_pages >= 1$"),
        ({"max_text_chars": 0}, r"^DecodeLimits\.max_text_chars and max_depth must be >= 1$"),
        ({"max_depth": 0}, r"^DecodeLimits\.max_text_chars and max_depth must be >= 1$"),
        ({"max_aspect_ratio": 0.99}, r"^DecodeLimits\.max_aspect_ratio must be >= 1 and min_side >= 1$"),
        ({"max_aspect_ratio": float("nan")}, r"^DecodeLimits\.max_aspect_ratio must be >= 1 and min_side >= 1$"),
        ({"min_side": 0}, r"^DecodeLimits\.max_aspect_ratio must be >= 1 and min_side >= 1$"),
        ({"max_item_bytes": 0}, r"^DecodeLimits\.max_item_bytes must be >= 1 and max_decode_seconds > 0$"),
        ({"max_decode_seconds": 0}, r"^DecodeLimits\.max_item_bytes must be >= 1 and max_decode_seconds > 0$"),
        ({"max_decode_seconds": float("nan")}, r"^DecodeLimits\.max_item_bytes must be >= 1 and max_decode_seconds > 0$"),
    ])
    def test_refused(self, changes, words):
        with pytest.raises(ValueError, match=words):
            DecodeLimits(**changes)

    @pytest.mark.parametrize("changes", [
        {"max_pixels": 1}, {"max_video_frames": 1}, {"video_num_frames": 1}, {"video_fps": 0.01},
        {"max_audio_seconds": 0.01}, {"pdf_dpi": 0.01}, {"pdf_max_pixels_per_page": 1}, {"pdf_max_pages": 1},
        {"max_text_chars": 1}, {"max_depth": 1}, {"max_aspect_ratio": 1}, {"max_aspect_ratio": 1.5}, {"min_side": 1},
        {"max_item_bytes": 1}, {"max_decode_seconds": 0.01}, {"max_decode_seconds": 0.5},
    ])
    def test_smallest_allowed_values_are_accepted(self, changes):
        limits = DecodeLimits(**changes)
        assert all(getattr(limits, k) == v for k, v in changes.items())

    def test_background_becomes_a_tuple_of_ints(self):
        limits = DecodeLimits(image_background=[np.uint8(10), 20.0, np.int64(30)])
        assert limits.image_background == (10, 20, 30) and all(type(c) is int for c in limits.image_background)

    def test_replace_is_validated(self):
        with pytest.raises(ValueError, match="max_pixels"):
            DecodeLimits().replace(max_pixels=0)
        assert DecodeLimits().replace(max_pixels=5).max_pixels == 5
