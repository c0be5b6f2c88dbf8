"""Audio bombs: decoded streamed and resampled as it goes, within the item's memory budget and deadline.

Each case runs in a forked child with an address-space cap (``run_isolated``); its peak RSS growth is
measured there.
"""

from __future__ import annotations

import pytest

pytest.importorskip("av")

from st_multimodal.testing.decoding import decode_bytes
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import bombs, media
from st_multimodal.testing.isolation import MB, run_isolated
from st_multimodal.types import ResolveContext

MODEL = ResolveContext(audio_sampling_rate=16000, audio_max_seconds=30)
CAP = 1_500 * MB


def decoded_length(data: bytes, ctx: ResolveContext) -> int:
    return int(decode_bytes(data, ctx, source="upload").value["array"].size)


class TestLongHighRateAudio:
    def test_590_s_at_384_khz_without_a_length_stays_small(self):
        outcome = run_isolated(decoded_length, bombs.flac_silence(384_000, 590.0), MODEL, address_space=CAP)
        assert outcome.error is None, outcome.error
        assert outcome.value == 30 * 16000
        assert outcome.rss_growth < 200 * MB, outcome.rss_growth_mb

    def test_past_max_audio_seconds_is_refused_while_streaming(self):
        limits = DecodeLimits(max_audio_seconds=60)
        outcome = run_isolated(decoded_length, bombs.flac_silence(384_000, 90.0),
                               MODEL.replace(limits=limits), address_space=CAP)
        assert outcome.error_type == "LimitExceededError" and outcome.error.limit_name == "max_audio_seconds"
        assert outcome.rss_growth < 100 * MB, outcome.rss_growth_mb

    def test_native_rate_output_is_held_within_a_lowered_item_budget(self):
        limits = DecodeLimits(max_item_bytes=64 * 2**20)
        outcome = run_isolated(decoded_length, bombs.flac_silence(384_000, 90.0), ResolveContext(limits=limits),
                               address_space=CAP)
        assert outcome.error_type == "LimitExceededError" and outcome.error.limit_name == "max_item_bytes"
        assert outcome.rss_growth < limits.max_item_bytes, outcome.rss_growth_mb

    def test_decode_deadline(self):
        limits = DecodeLimits(max_decode_seconds=0.3)
        outcome = run_isolated(decoded_length, bombs.flac_silence(384_000, 590.0), MODEL.replace(limits=limits),
                               address_space=CAP)
        assert outcome.error_type == "LimitExceededError" and outcome.error.limit_name == "max_decode_seconds"
        assert outcome.seconds < 0.3 + 1.0


class TestWindowFromTheStart:
    def test_decoding_stops_at_the_window(self):
        ctx = MODEL.replace(audio_max_seconds=2, limits=DecodeLimits(audio_crop="start", max_decode_seconds=1.0))
        assert decoded_length(bombs.flac_silence(384_000, 590.0), ctx) == 2 * 16000

    def test_same_samples_as_the_whole_decode(self):
        data = media.wav_bytes(3.0, 44100, 2)
        start = decode_bytes(data, MODEL.replace(
            audio_max_seconds=1, limits=DecodeLimits(audio_crop="start")), source="a").value["array"]
        whole = decode_bytes(data, ResolveContext(audio_sampling_rate=16000), source="a").value["array"]
        assert start.size == 16000 and (start == whole[:16000]).all()
