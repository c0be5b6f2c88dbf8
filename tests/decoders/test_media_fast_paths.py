"""The fast paths of the audio and video decoders give what the plain ones give, sample for sample and frame for frame.

Audio: frames are held as views of their planes and scaled and downmixed per chunk (stereo as ``(l + r) / 2``,
signed PCM scaled in float32); the reference converts frame by frame with the float64 scaling and numpy's mean,
then resamples the whole signal at once. Video: sampled frames reached by seeking to a keyframe between them
(when the index shows evenly timed frames) are the frames counting decoded frames finds.
"""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

av = pytest.importorskip("av")

from st_multimodal.decoders import video as video_module
from st_multimodal.decoders.arrays import resample
from st_multimodal.decoders.audio import decode_audio, open_container
from st_multimodal.decoders.budget import Deadline
from st_multimodal.policy import DecodeLimits
from st_multimodal.testing import media
from st_multimodal.types import ResolveContext

_SCALE = {np.dtype(np.uint8): (128.0, 128.0), np.dtype(np.int16): (0.0, 32768.0), np.dtype(np.int32): (0.0, 2147483648.0)}


def _reference_audio(data: bytes, target: int) -> np.ndarray:
    """Frame by frame: to_ndarray, float64 scaling, numpy's float32 mean over channels; then one resampling."""
    parts, rate = [], None
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            rate = frame.sample_rate
            samples = frame.to_ndarray()
            channels = frame.layout.nb_channels
            if not frame.format.is_planar:
                samples = samples.reshape(-1, channels).T
            if samples.dtype in _SCALE:
                offset, scale = _SCALE[samples.dtype]
                samples = ((samples.astype(np.float64) - offset) / scale).astype(np.float32)
            parts.append(samples[0] if channels == 1 else samples.mean(axis=0, dtype=np.float32))
    return resample(np.concatenate(parts).astype(np.float32), rate, target)


def _wav(channels: int, dtype: type, rate: int = 22050, seconds: float = 3.5) -> bytes:
    noise = np.random.default_rng(channels).normal(0, 0.3, (int(rate * seconds), channels)).clip(-1, 1)
    pcm = (noise * 127 + 128).astype(np.uint8) if dtype is np.uint8 else (noise * np.iinfo(dtype).max).astype(dtype)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(np.dtype(dtype).itemsize)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buf.getvalue()


def _planar_aac(layout: str, channels: int, seconds: float = 3.0, rate: int = 44100) -> bytes:
    signal = np.random.default_rng(channels).normal(0, 0.2, (channels, int(rate * seconds))).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout=layout)
        for start in range(0, signal.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(signal[:, start:start + 1024]), format="fltp",
                                               layout=layout)
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


AUDIO = {
    "flac stereo (interleaved s16)": lambda: media.flac_bytes(3.0, 44100, 2),
    "mp3 stereo (planar float)": lambda: media.mp3_bytes(3.0, 44100, 2),
    "mp3 mono": lambda: media.mp3_bytes(3.0, 44100, 1),
    "opus stereo at 48 kHz": lambda: media.ogg_bytes(3.0, 2),
    "wav 6 channels s16": lambda: _wav(6, np.int16),
    "wav 3 channels s32": lambda: _wav(3, np.int32),
    "wav stereo s32": lambda: _wav(2, np.int32),
    "wav stereo u8": lambda: _wav(2, np.uint8),
    "aac 5.1 (planar float)": lambda: _planar_aac("5.1", 6),
    "aac quad": lambda: _planar_aac("quad", 4),
}


@pytest.mark.parametrize("name", list(AUDIO))
@pytest.mark.parametrize("target", [48000, 16000])
def test_chunked_audio_equals_frame_by_frame(name, target):
    data = AUDIO[name]()
    with open_container(data) as container:
        got = decode_audio(container, ResolveContext(audio_sampling_rate=target))["array"]
    assert np.array_equal(got, _reference_audio(data, target))


def _gop_video(frames: int = 72, fps: int = 12, gop: int = 6) -> bytes:
    """MPEG-4 Part 2 with a keyframe every ``gop`` frames; frame ``i`` is flat grey ``mp4_frame_levels(frames)[i]``."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.gop_size = gop
        for i, level in enumerate(media.mp4_frame_levels(frames)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), level, np.uint8), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def _counted(data: bytes, limits: DecodeLimits) -> np.ndarray:
    """The sampled frames found by counting decoded frames from the start (no seeking)."""
    with open_container(data) as container:
        stream = container.streams.video[0]
        indices = video_module.sample_indices(stream.frames, float(stream.average_rate), limits)
        out = np.empty((len(indices), stream.height, stream.width, 3), np.uint8)
        decoded = video_module._decode_frames(container, indices, float(stream.average_rate), out, limits,
                                              Deadline(limits), seek=False)
    return out[:decoded]


@pytest.mark.parametrize("limits", [DecodeLimits(video_num_frames=5), DecodeLimits(video_num_frames=12),
                                    DecodeLimits(video_fps=1.5)])
def test_keyframe_seeking_between_close_frames_finds_the_counted_frames(limits, monkeypatch):
    data = _gop_video()
    seeks = []
    real_seek = video_module._frame_at
    monkeypatch.setattr(video_module, "_frame_at", lambda *a: seeks.append(a[2]) or real_seek(*a))
    got = video_module._decode_video(data, limits, Deadline(limits))["array"]
    assert seeks, "the sampled frames lie within two seconds of each other: only a keyframe between them seeks"
    assert np.array_equal(got, _counted(data, limits))


def test_an_unevenly_timed_frame_falls_back_to_counting(monkeypatch):
    data, limits = _gop_video(), DecodeLimits(video_num_frames=5)
    real, raised = video_module._seek_frames, []

    def misplaced(container, stream, indices, fps, *rest, **kw):  # as if frames were not where the index says
        return real(container, stream, indices, 2 * fps, *rest, **kw)

    class Spied(video_module._NotEvenlyTimed):
        def __init__(self):
            raised.append(True)

    monkeypatch.setattr(video_module, "_seek_frames", misplaced)
    monkeypatch.setattr(video_module, "_NotEvenlyTimed", Spied)
    got = video_module._decode_video(data, limits, Deadline(limits))["array"]
    assert raised and np.array_equal(got, _counted(data, limits))


@pytest.mark.parametrize("rate, target", [(44100, 48000), (22050, 16000), (48000, 16000), (8000, 48000)])
def test_mono_resampled_planar_equals_interleaved(rate, target):
    """Mono has one layout in both sample formats: libswresample gives the same samples (planar skips two copies)."""
    signal = np.random.default_rng(rate).normal(0, 0.3, (1, 3 * rate)).astype(np.float32)

    def resampled(fmt: str) -> np.ndarray:
        resampler, out = av.AudioResampler(format=fmt, layout="mono", rate=target), []
        for start in range(0, signal.shape[1], 65536):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(signal[:, start:start + 65536]), format=fmt,
                                               layout="mono")
            frame.sample_rate = rate
            out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        return np.concatenate(out)

    assert np.array_equal(resampled("fltp"), resampled("flt"))
