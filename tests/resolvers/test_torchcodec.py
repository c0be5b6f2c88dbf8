"""Real torchcodec decoders (what HF datasets >= 4 returns) give what the same file gives through PyAV.

Skipped where torchcodec is not installed or cannot load its FFmpeg libraries.
"""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

import st_multimodal as stm
from st_multimodal.testing import media
from st_multimodal.types import ResolveContext


def _torchcodec_decoders():
    try:
        from torchcodec.decoders import AudioDecoder, VideoDecoder

        AudioDecoder(media.wav_bytes(0.1, 8000, 1)).get_all_samples()  # loads the native libraries
    except Exception as exc:  # not installed, or its FFmpeg libraries are missing
        pytest.skip(f"torchcodec cannot decode here: {type(exc).__name__}", allow_module_level=True)
    return AudioDecoder, VideoDecoder


AudioDecoder, VideoDecoder = _torchcodec_decoders()


def opposite_channels_wav(seconds: float, rate: int) -> bytes:
    """Stereo WAV whose right channel is the left one inverted: a faithful downmix is silence."""
    left = np.round(0.5 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate) * 32767).astype(np.int16)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.stack([left, -left], axis=1).tobytes())
    return out.getvalue()


def frame_numbers(array: np.ndarray, frames: int) -> list[int]:
    table = np.array(media.mp4_frame_levels(frames))
    return [int(np.argmin(np.abs(table - round(frame.mean())))) for frame in np.asarray(array)]


class TestAudioDecoder:
    def test_matches_the_same_file_decoded_by_pyav(self):
        data = media.wav_bytes(1.0, 22050, 2)
        ctx = ResolveContext(audio_sampling_rate=16000)
        decoder = AudioDecoder(data)
        assert type(decoder).__module__.startswith("torchcodec")
        ours = stm.resolve(decoder, ctx)
        reference = stm.resolve(data, ctx)  # the bytes through the PyAV decoder
        assert ours.modality == "audio" and ours.value["sampling_rate"] == 16000
        a, b = ours.value["array"], reference.value["array"]
        assert abs(a.size - b.size) <= 2 and np.abs(a[: min(a.size, b.size)] - b[: min(a.size, b.size)]).max() < 0.02
        assert np.abs(a).max() > 0.3  # a real signal, not silence

    def test_channels_are_averaged(self):
        resolved = stm.resolve(AudioDecoder(opposite_channels_wav(0.5, 8000)), ResolveContext(audio_sampling_rate=8000))
        assert resolved.value["array"].size == 4000
        assert np.abs(resolved.value["array"]).max() < 1e-3


class TestVideoDecoder:
    def test_samples_the_frames_pyav_samples_and_decodes_only_those(self, monkeypatch):
        data = media.mp4_bytes(20, 10)
        ctx = ResolveContext(limits=stm.DecodeLimits(video_fps=2.0))
        decoder = VideoDecoder(data)
        requested = []
        real_get_frames_at = decoder.get_frames_at

        def spy(indices):
            requested.append(list(indices))
            return real_get_frames_at(indices=indices)

        monkeypatch.setattr(decoder, "get_frames_at", lambda indices: spy(indices))
        ours = stm.resolve(decoder, ctx)
        reference = stm.resolve(data, ctx)
        frames = np.asarray(ours.value["array"])
        assert ours.modality == "video" and frames.shape == (4, 48, 64, 3) and frames.dtype == np.uint8
        assert requested == [[0, 5, 10, 15]]  # one call, the sampled frames only
        assert frame_numbers(frames, 20) == [0, 5, 10, 15]
        assert np.abs(frames.astype(int) - np.asarray(reference.value["array"]).astype(int)).max() <= 2
        meta = ours.value["video_metadata"]
        # delivered frame i is shown at frames_indices[i] / fps seconds: frame n of a 10 fps clip at n / 10 s
        assert [i / meta["fps"] for i in meta["frames_indices"]] == pytest.approx([0.0, 0.5, 1.0, 1.5])

    def test_other_torchcodec_objects_are_refused_by_name(self):
        samples = AudioDecoder(media.wav_bytes(0.1, 8000, 1)).get_all_samples()
        with pytest.raises(stm.UnsupportedInputError, match="torchcodec object AudioSamples") as info:
            stm.resolve(samples, ResolveContext(), index=2)
        assert info.value.index == 2


def test_look_alikes_from_other_modules_are_not_torchcodec():
    class AudioDecoder:  # same name and API, but not torchcodec's
        def get_all_samples(self):
            raise AssertionError("a look-alike must not be treated as torchcodec")

    with pytest.raises(stm.UnsupportedInputError, match="no resolver accepts"):
        stm.resolve(AudioDecoder(), ResolveContext())
