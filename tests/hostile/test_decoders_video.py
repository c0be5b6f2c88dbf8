"""Video: sampled frames reached by seeking (not by decoding every frame), within the item's budgets."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av")

from st_multimodal.decoders import budget, video
from st_multimodal.testing.decoding import decode_bytes
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import bombs, media
from st_multimodal.testing.isolation import MB, run_isolated
from st_multimodal.types import ResolveContext


def decode(data: bytes, **limits):
    return decode_bytes(data, ResolveContext(limits=DecodeLimits(**limits)), source="clip").value


def frames_decoded(data: bytes, monkeypatch, **limits) -> int:
    """How many frames the decoder went through (it checks its deadline once a frame)."""
    calls = []
    real = budget.Deadline.check
    monkeypatch.setattr(budget.Deadline, "check", lambda self, what: (calls.append(what), real(self, what))[1])
    decode(data, **limits)
    return sum(what == "the video" for what in calls)


class TestSeeking:
    @pytest.mark.parametrize("make", [media.mp4_bytes, media.webm_bytes])
    def test_seeking_gives_the_frames_of_decoding_on(self, make, monkeypatch):
        data = make(120, 5)
        sought = decode(data, video_num_frames=5)["array"]
        monkeypatch.setattr(video, "SEEK_AFTER_SECONDS", 10**6)
        assert np.array_equal(sought, decode(data, video_num_frames=5)["array"])

    def test_a_ten_minute_video_costs_less_than_three_ten_second_ones(self, monkeypatch):
        short = frames_decoded(bombs.tiny_frames_video(250, 25, 64), monkeypatch)
        long = frames_decoded(bombs.tiny_frames_video(15_000, 25, 64), monkeypatch)
        assert long < 3 * short, (short, long)

    def test_many_tiny_frames_end_fast(self):
        data = bombs.tiny_frames_video(200_000, 1000)  # 200 s at 1000 fps
        outcome = run_isolated(lambda: decode(data)["array"].shape, address_space=1_500 * MB)
        assert outcome.value == (32, 16, 16, 3), outcome.error
        assert outcome.seconds < 2.0 and outcome.rss_growth < 200 * MB


class TestBudgets:
    def test_huge_mjpeg_frames_are_refused_before_decoding(self):
        outcome = run_isolated(lambda: decode(bombs.mjpeg_video(9000, 2))["array"].shape, address_space=1_000 * MB)
        assert outcome.error_type == "LimitExceededError" and outcome.error.limit_name == "max_item_bytes"
        assert outcome.rss_growth < 200 * MB

    def test_sampled_frames_past_the_budget_are_delivered_smaller(self):
        data = media.mp4_bytes(10, 5, w=320, h=240)
        small = decode(data, video_num_frames=8, max_item_bytes=1_000_000)
        array, meta = small["array"], small["video_metadata"]
        assert array.shape[0] == 8 and array.shape[1] < 240 and array.nbytes < 1_000_000
        assert (meta["width"], meta["height"]) == (array.shape[2], array.shape[1])
        assert abs(array.shape[2] / array.shape[1] - 320 / 240) < 0.05

    def test_decode_deadline(self):
        data = bombs.tiny_frames_video(200_000, 1000)
        outcome = run_isolated(lambda: decode(data, max_decode_seconds=0.05), address_space=1_500 * MB)
        assert outcome.error_type == "LimitExceededError" and outcome.error.limit_name == "max_decode_seconds"
        assert outcome.seconds < 0.05 + 1.0
