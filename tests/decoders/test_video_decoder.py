"""Videos through PyAV: frames sampled by count or by fps, metadata describing the delivered array."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av")

from st_multimodal.decoders import video_from_frames
from st_multimodal.decoders.video import sample_indices
from st_multimodal.errors import LimitExceededError, UnsupportedInputError
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import media
from st_multimodal.testing.decoding import decode_bytes
from st_multimodal.types import ResolveContext


def decode(data: bytes, **limits):
    return decode_bytes(data, ResolveContext(limits=DecodeLimits(**limits), audio_sampling_rate=16000))


def levels(array: np.ndarray) -> list[int]:
    return [int(round(frame.mean())) for frame in array]


def frame_numbers(array: np.ndarray, frames: int) -> list[int]:
    table = np.array(media.mp4_frame_levels(frames))
    return [int(np.argmin(np.abs(table - level))) for level in levels(array)]


class TestSampleIndices:
    def test_by_count_is_even_and_includes_both_ends(self):
        assert sample_indices(100, 25.0, DecodeLimits(video_num_frames=5)) == [0, 25, 50, 74, 99]

    def test_by_fps(self):
        assert sample_indices(100, 25.0, DecodeLimits(video_fps=5)) == list(range(0, 100, 5))

    def test_capped_then_spread_over_the_whole_video(self):
        got = sample_indices(1000, 25.0, DecodeLimits(video_fps=5, max_video_frames=4))
        assert got == [0, 333, 666, 999]

    def test_never_more_frames_than_exist(self):
        assert sample_indices(3, 1.0, DecodeLimits(video_num_frames=10)) == [0, 1, 2]
        assert sample_indices(3, 1.0, DecodeLimits(video_fps=30)) == [0, 1, 2]
        assert sample_indices(0, 1.0, DecodeLimits()) == []


class TestVideoDecoder:
    def test_sampled_by_count(self):
        resolved = decode(media.mp4_bytes(10, 5), video_num_frames=4)
        video = resolved.value
        assert resolved.modality == "video" and resolved.provenance.mime == "mp4"
        assert video["array"].shape == (4, 48, 64, 3) and video["array"].dtype == np.uint8
        assert frame_numbers(video["array"], 10) == [0, 3, 6, 9]
        meta = video["video_metadata"]
        assert meta["total_num_frames"] == 4 and meta["frames_indices"] == [0, 1, 2, 3]
        assert (meta["width"], meta["height"]) == (64, 48) and meta["duration"] == pytest.approx(2.0)
        # a model places delivered frame i at frames_indices[i] / fps seconds: the sampled source frames
        # 0, 3, 6, 9 of this 5 fps clip were shown at 0.0, 0.6, 1.2 and 1.8 s
        assert [i / meta["fps"] for i in meta["frames_indices"]] == pytest.approx([0.0, 0.6, 1.2, 1.8])
        assert resolved.provenance.decoded_size == (4, 48, 64)

    def test_sampled_by_fps(self):
        video = decode(media.mp4_bytes(20, 10), video_fps=2.0).value
        assert frame_numbers(video["array"], 20) == [0, 5, 10, 15]
        assert video["video_metadata"]["fps"] == pytest.approx(2.0)
        timestamps = [i / video["video_metadata"]["fps"] for i in video["video_metadata"]["frames_indices"]]
        assert timestamps == pytest.approx([0.0, 0.5, 1.0, 1.5])

    def test_metadata_fits_transformers_video_metadata(self):
        video_utils = pytest.importorskip("transformers.video_utils")
        meta = video_utils.VideoMetadata(**decode(media.mp4_bytes()).value["video_metadata"])
        assert meta.total_num_frames == 4

    def test_two_lengths_give_their_own_frame_counts(self):
        short = decode(media.mp4_bytes(6, 5), video_fps=5.0).value
        long = decode(media.mp4_bytes(20, 5), video_fps=5.0).value
        assert short["array"].shape[0] == 6 and long["array"].shape[0] == 20
        assert short["video_metadata"]["duration"] < long["video_metadata"]["duration"]

    def test_webm_without_a_recorded_frame_count(self):
        video = decode(media.webm_bytes(10, 5), video_num_frames=3).value
        assert video["array"].shape[0] == 3 and frame_numbers(video["array"], 10) == [0, 4, 9]

    def test_audio_only_webm_is_audio(self):
        assert decode(media.webm_audio_bytes()).modality == "audio"

    def test_optional_audio_track(self):
        data = media.mp4_bytes(10, 5, with_audio=True)
        assert decode(data).modality == "video"
        resolved = decode(data, video_audio=True)
        assert resolved.modality == ("audio", "video")
        assert resolved.value["audio"]["sampling_rate"] == 16000 and resolved.value["video"]["array"].ndim == 4

    def test_limits(self):
        with pytest.raises(LimitExceededError, match="max_video_seconds"):
            decode(media.mp4_bytes(10, 5), max_video_seconds=1.0)
        with pytest.raises(LimitExceededError, match="max_pixels"):
            decode(media.mp4_bytes(10, 5), max_pixels=1000)
        assert decode(media.mp4_bytes(20, 10), max_video_frames=3, video_fps=10).value["array"].shape[0] == 3


class TestVideoFromFrames:
    def test_pil_frames_match_the_decoded_video_sampling(self):
        frames = [media.image(seed) for seed in range(10)]
        video = video_from_frames(frames, fps=5, limits=DecodeLimits(video_num_frames=4))
        assert video["array"].shape == (4, 48, 64, 3)
        assert np.array_equal(video["array"][1], np.asarray(frames[3]))
        assert video["video_metadata"]["duration"] == pytest.approx(2.0)

    def test_mixed_forms_and_a_4d_array(self):
        frames = [media.image(0), np.asarray(media.image(1)), np.asarray(media.image(2)).astype(np.float32) / 255]
        video = video_from_frames(frames)
        assert video["array"].shape == (3, 48, 64, 3) and video["video_metadata"]["fps"] is None
        assert np.array_equal(video_from_frames(video["array"])["array"], video["array"])

    def test_bad_inputs(self):
        with pytest.raises(UnsupportedInputError):
            video_from_frames([])
        with pytest.raises(UnsupportedInputError, match="differ in size"):
            video_from_frames([media.image(0), media.image(0, w=32, h=32)])
