"""Audio files through PyAV: mono float32 at the target rate, limits checked, same result as the array path."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av")

from st_multimodal.decoders import audio_from_array
from st_multimodal.errors import DecodeError, LimitExceededError
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import media
from st_multimodal.testing.decoding import decode_bytes
from st_multimodal.types import ResolveContext

CTX16 = ResolveContext(audio_sampling_rate=16000)


def decode(data: bytes, ctx: ResolveContext = CTX16):
    return decode_bytes(data, ctx)


class TestAudioDecoder:
    @pytest.mark.parametrize("make, fmt", [(media.wav_bytes, "wav"), (media.flac_bytes, "flac"),
                                           (media.mp3_bytes, "mp3"), (media.ogg_bytes, "ogg"),
                                           (media.m4a_bytes, "m4a"), (media.webm_audio_bytes, "webm")])
    def test_each_format_decodes(self, make, fmt):
        resolved = decode(make())
        audio = resolved.value
        assert resolved.modality == "audio" and resolved.provenance.mime == fmt
        assert set(audio) == {"array", "sampling_rate"} and audio["sampling_rate"] == 16000
        assert audio["array"].dtype == np.float32 and audio["array"].ndim == 1
        assert 15000 <= audio["array"].size <= 17500  # lossy codecs pad a little
        assert 0.1 < np.abs(audio["array"]).max() <= 1.0

    @pytest.mark.parametrize("rate", [16000, 22050, 44100])
    def test_stereo_int16_wav_to_mono_at_target_rate(self, rate):
        audio = decode(media.wav_bytes(1.0, rate, 2)).value
        assert abs(audio["array"].size - 16000) <= 1

    def test_wav_and_its_samples_as_an_array_agree(self):
        from_file = decode(media.wav_bytes(0.5, 44100, 2)).value["array"]
        from_array = audio_from_array(media.wav_samples(0.5, 44100, 2), 44100, CTX16)["array"]
        assert np.array_equal(from_file, from_array)

    def test_lossless_flac_matches_wav(self):
        assert np.array_equal(decode(media.flac_bytes()).value["array"], decode(media.wav_bytes()).value["array"])

    def test_native_rate_without_a_target(self):
        audio = decode(media.wav_bytes(0.5, 22050, 1), ResolveContext()).value
        assert audio["sampling_rate"] == 22050 and audio["array"].size == 11025

    def test_too_long_is_refused_from_metadata(self):
        ctx = CTX16.replace(limits=DecodeLimits(max_audio_seconds=0.5))
        with pytest.raises(LimitExceededError) as info:
            decode(media.wav_bytes(1.0), ctx)
        assert info.value.limit_name == "max_audio_seconds" and info.value.actual == pytest.approx(1.0)

    def test_deterministic_crop(self):
        ctx = CTX16.replace(audio_max_seconds=0.25)
        first, again = decode(media.wav_bytes(), ctx).value, decode(media.wav_bytes(), ctx).value
        assert first["array"].size == 4000 and np.array_equal(first["array"], again["array"])
        full = decode(media.wav_bytes()).value["array"]
        assert np.array_equal(first["array"], full[6000:10000])

    def test_silence_of_zero_samples_is_refused(self):
        with pytest.raises(DecodeError, match="no samples|empty"):
            decode(media.wav_bytes(0.0, 16000, 1))

    def test_truncated_and_garbage_are_decode_errors(self):
        with pytest.raises(DecodeError):
            decode(b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 20)
        with pytest.raises(DecodeError):
            decode(b"ID3" + b"\x00" * 100)
