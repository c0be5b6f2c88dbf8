"""Fuzzing the production decode path (``resolve_fetched`` + ``materialize(prefer_tensor=True)``): random and
damaged bytes either decode or raise an st_multimodal error, quickly."""

from __future__ import annotations

import faulthandler
from datetime import timedelta

import pytest

pytest.importorskip("av")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from st_multimodal.errors import MultimodalInputError
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import media
from st_multimodal.testing.decoding import decode_bytes
from st_multimodal.types import ResolveContext

CTX = ResolveContext(
    audio_sampling_rate=16000,
    audio_max_seconds=5.0,
    limits=DecodeLimits(max_pixels=2_000_000, max_audio_seconds=60, max_video_seconds=60, max_video_frames=8,
                        max_array_elements=50_000_000),
)
FUZZ = settings(max_examples=120, deadline=timedelta(seconds=3), derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEEDS = {
    "jpeg": lambda: media.jpeg_bytes(32, 24),
    "png": lambda: media.png_bytes(32, 24),
    "wav": lambda: media.wav_bytes(0.1, 8000, 2),
    "mp4": lambda: media.mp4_bytes(6, 5, 32, 24),
}


@pytest.fixture(autouse=True)
def _hang_guard():
    """Kill the run with tracebacks if one test hangs (a decoder stuck in C cannot be interrupted)."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def check(data: bytes, mime: str | None = None) -> None:
    try:
        resolved = decode_bytes(data, CTX, source="fuzz", mime=mime)
    except MultimodalInputError:
        return
    assert resolved.modality in ("image", "audio", "video", ("audio", "video"))
    assert resolved.loader is None and resolved.value is not None  # decoded, not left deferred


@st.composite
def damaged(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    header = st.integers(0, min(len(data), 256) - 1)
    anywhere = st.integers(0, len(data) - 1)
    for position, value in draw(st.lists(st.tuples(header | anywhere, st.integers(0, 255)), max_size=8)):
        data[position] = value
    cut = draw(st.none() | st.integers(0, len(data)))
    return bytes(data[:cut])


class TestDecodeFuzz:
    @FUZZ
    @given(data=st.binary(max_size=2048), mime=st.sampled_from([None, "image/jpeg", "audio/wav", "video/mp4"]))
    def test_random_bytes(self, data, mime):
        check(data, mime)

    @FUZZ
    @given(data=st.binary(max_size=512))
    def test_random_bytes_behind_real_magic(self, data):
        for magic in (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x01\x00\x00WAVEfmt ", b"\0\0\0\x18ftypisom",
                      b"\x1a\x45\xdf\xa3", b"OggS", b"fLaC", b"ID3"):
            check(magic + data)

    @pytest.mark.parametrize("kind", sorted(SEEDS))
    def test_damaged_files(self, kind):
        seed = SEEDS[kind]()

        @FUZZ
        @given(data=damaged(seed))
        def run(data):
            check(data)

        run()
