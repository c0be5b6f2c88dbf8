"""In-memory arrays: explicit layouts and dtypes for images, scaling/downmix/resampling/crop for audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from st_multimodal.decoders import audio_from_array, image_from_array, infer_image_layout
from st_multimodal.decoders.arrays import downmix, scale_audio
from st_multimodal.errors import DecodeError, LimitExceededError, UnsupportedInputError
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import media
from st_multimodal.types import ResolveContext

PICTURE = np.asarray(media.image())


class TestInferImageLayout:
    @pytest.mark.parametrize("shape, layout", [((48, 64, 3), "HWC"), ((3, 48, 64), "CHW"), ((48, 64, 1), "HWC"),
                                               ((4, 10, 10), "CHW"), ((10, 10, 4), "HWC")])
    def test_unambiguous(self, shape, layout):
        assert infer_image_layout(shape) == layout

    @pytest.mark.parametrize("shape", [(3, 3, 3), (3, 64, 4), (1, 5, 1), (48, 64, 5)])
    def test_ambiguous_or_channelless_is_refused(self, shape):
        with pytest.raises(UnsupportedInputError, match="layout="):
            infer_image_layout(shape)

    def test_batches_and_2d_are_refused_with_a_hint(self):
        with pytest.raises(UnsupportedInputError, match="batch of images or a video"):
            infer_image_layout((2, 48, 64, 3))
        with pytest.raises(UnsupportedInputError, match="as_image"):
            infer_image_layout((48, 64))


class TestImageFromArray:
    def test_uint8_hwc_is_taken_as_is(self):
        assert np.array_equal(np.asarray(image_from_array(PICTURE)), PICTURE)

    def test_explicit_layout_resolves_ambiguity(self):
        cube = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)
        hwc = np.asarray(image_from_array(cube, layout="HWC"))
        chw = np.asarray(image_from_array(cube, layout="CHW"))
        assert np.array_equal(hwc, cube) and np.array_equal(chw, cube.transpose(1, 2, 0))

    def test_float_in_unit_range_is_not_rescaled_twice(self):
        img = image_from_array(np.full((8, 8, 3), 0.5, np.float32))
        assert (np.asarray(img) == 128).all()

    def test_float_in_0_255_is_refused_with_a_uint8_hint(self):
        with pytest.raises(DecodeError, match="astype"):
            image_from_array(PICTURE.astype(np.float32))

    @pytest.mark.parametrize("value", [np.nan, np.inf, -0.5, 300.0])
    def test_other_bad_floats_are_refused(self, value):
        arr = np.zeros((5, 6, 3), np.float32)
        arr[0, 0, 0] = value
        with pytest.raises(DecodeError):
            image_from_array(arr)

    def test_uint16_is_scaled(self):
        arr = np.full((5, 6, 3), 65535, np.uint16)
        arr[0, 0] = 257 * 100
        out = np.asarray(image_from_array(arr))
        assert out[0, 0, 0] == 100 and out[1, 1, 0] == 255

    def test_bool_and_small_ints(self):
        assert (np.asarray(image_from_array(np.ones((4, 4), bool), layout="HW")) == 255).all()
        assert (np.asarray(image_from_array(np.full((5, 6, 3), 7, np.int64))) == 7).all()
        with pytest.raises(DecodeError):
            image_from_array(np.full((5, 6, 3), 700, np.int64))

    def test_grayscale_needs_explicit_layout(self):
        with pytest.raises(UnsupportedInputError):
            image_from_array(np.zeros((8, 8), np.uint8))
        assert image_from_array(np.zeros((8, 8), np.uint8), layout="HW").mode == "RGB"

    def test_torch_bfloat16(self):
        tensor = torch.full((3, 5, 6), 0.5, dtype=torch.bfloat16)
        assert (np.asarray(image_from_array(tensor)) == 128).all()

    def test_limits(self):
        with pytest.raises(LimitExceededError, match="max_array_elements"):
            image_from_array(PICTURE, limits=DecodeLimits(max_array_elements=100))
        with pytest.raises(LimitExceededError, match="max_pixels"):
            image_from_array(PICTURE, limits=DecodeLimits(max_pixels=100))


CTX16 = ResolveContext(audio_sampling_rate=16000)


class TestAudioFromArray:
    def test_int16_is_scaled_by_dtype(self):
        out = audio_from_array(np.array([0, 16384, -32768], np.int16), 16000, CTX16)
        assert out["array"].dtype == np.float32 and out["sampling_rate"] == 16000
        assert np.allclose(out["array"], [0.0, 0.5, -1.0])

    @pytest.mark.parametrize("dtype, value, expected", [(np.uint8, 192, 0.5), (np.int32, 2**30, 0.5),
                                                        (np.float64, 0.25, 0.25), (np.int8, -64, -0.5)])
    def test_other_dtypes(self, dtype, value, expected):
        assert np.allclose(scale_audio(np.array([value], dtype)), expected)

    def test_stereo_layouts_and_1d_torch_agree(self):
        stereo = media.wav_samples(0.5, 16000, 2)  # (N, 2) int16
        a = audio_from_array(stereo, 16000, CTX16)["array"]
        b = audio_from_array(stereo.T.copy(), 16000, CTX16)["array"]
        mono = downmix(scale_audio(stereo))
        c = audio_from_array(torch.from_numpy(mono.copy()), 16000, CTX16)["array"]
        assert np.array_equal(a, b) and np.array_equal(a, c)
        assert a.shape == (8000,)

    def test_ambiguous_shapes_are_refused(self):
        for shape in [(4, 4), (100, 200), (2, 3, 100)]:
            with pytest.raises(UnsupportedInputError):
                audio_from_array(np.zeros(shape, np.float32), 16000, CTX16)

    def test_missing_sampling_rate_asks_for_it(self):
        with pytest.raises(UnsupportedInputError, match="sampling_rate="):
            audio_from_array(np.zeros(100, np.float32), None, CTX16)
        with pytest.raises(UnsupportedInputError):
            audio_from_array(np.zeros(100, np.float32), -5, CTX16)

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_nan_and_inf_are_refused(self, bad):
        arr = np.zeros(1000, np.float32)
        arr[10] = bad
        with pytest.raises(DecodeError, match="NaN"):
            audio_from_array(arr, 16000, CTX16)

    def test_empty_is_refused(self):
        for arr in (np.zeros(0, np.float32), np.zeros((2, 0), np.int16), torch.zeros(0)):
            with pytest.raises(DecodeError, match="empty"):
                audio_from_array(arr, 16000, CTX16)

    def test_too_long_is_refused(self):
        ctx = ResolveContext(limits=DecodeLimits(max_audio_seconds=1.0))
        with pytest.raises(LimitExceededError) as info:
            audio_from_array(np.zeros(16001, np.float32), 16000, ctx)
        assert info.value.limit_name == "max_audio_seconds"

    def test_huge_arrays_are_refused_before_copying(self):
        ctx = ResolveContext(limits=DecodeLimits(max_array_elements=1000))
        with pytest.raises(LimitExceededError, match="max_array_elements"):
            audio_from_array(torch.zeros(2, 1000), 16000, ctx)

    @pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
    def test_resampled_length(self, rate):
        out = audio_from_array(np.zeros(rate, np.float32) + 0.1, rate, CTX16)
        assert abs(out["array"].size - 16000) <= 1 and out["sampling_rate"] == 16000

    def test_resampling_keeps_a_tone(self):
        mono = downmix(scale_audio(media.wav_samples(1.0, 44100, 1)))
        out = audio_from_array(mono, 44100, CTX16)["array"]
        spectrum = np.abs(np.fft.rfft(out))
        assert abs(int(np.argmax(spectrum)) - 440) <= 1  # 1 Hz bins over one second

    def test_native_rate_is_kept_without_a_target(self):
        out = audio_from_array(np.zeros(100, np.float32), 8000, ResolveContext())
        assert out["sampling_rate"] == 8000 and out["array"].size == 100

    @pytest.mark.parametrize("crop, start", [("center", 4000), ("start", 0)])
    def test_deterministic_crop(self, crop, start):
        ctx = CTX16.replace(audio_max_seconds=0.5, limits=DecodeLimits(audio_crop=crop))
        ramp = np.linspace(-1, 1, 16000, dtype=np.float32)
        first = audio_from_array(ramp, 16000, ctx)["array"]
        again = audio_from_array(ramp, 16000, ctx)["array"]
        assert np.array_equal(first, again) and np.array_equal(first, ramp[start:start + 8000])


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_signed_pcm_scaled_in_float32_equals_the_float64_formula(dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(0)
    if np.dtype(dtype).itemsize <= 2:
        values = np.arange(info.min, info.max + 1, dtype=dtype)
    else:
        values = np.concatenate([rng.integers(info.min, info.max, 1_000_000, dtype=dtype, endpoint=True),
                                 np.array([info.min, info.min + 1, -1, 0, 1, info.max - 1, info.max], dtype)])
    expected = ((values.astype(np.float64) - 0.0) / -float(info.min)).astype(np.float32)
    assert np.array_equal(scale_audio(values), expected)
