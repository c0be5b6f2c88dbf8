"""torchcodec decoders (as HF datasets >= 4 returns them), with stand-ins of the same API."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

import st_multimodal as stm
from st_multimodal.types import ResolveContext


class AudioDecoder:
    _st_multimodal_torchcodec = True

    def __init__(self, samples: np.ndarray, rate: int):
        self._samples, self._rate = samples, rate

    def get_all_samples(self):
        return SimpleNamespace(data=torch.from_numpy(self._samples), sample_rate=self._rate)


class VideoDecoder:
    _st_multimodal_torchcodec = True

    def __init__(self, frames: int, fps: float):
        self._frames = torch.stack([torch.full((3, 24, 32), i * 6, dtype=torch.uint8) for i in range(frames)])
        self.metadata = SimpleNamespace(average_fps=fps)
        self.requested = None

    def __len__(self) -> int:
        return len(self._frames)

    def get_frames_at(self, indices):
        self.requested = list(indices)
        return SimpleNamespace(data=self._frames[indices])


class TestTorchcodec:
    def test_audio_decoder(self):
        stereo = np.stack([np.linspace(-0.5, 0.5, 8000), np.linspace(0.5, -0.5, 8000)]).astype(np.float32)
        resolved = stm.resolve(AudioDecoder(stereo, 8000), ResolveContext(audio_sampling_rate=16000))
        assert resolved.modality == "audio" and resolved.value["sampling_rate"] == 16000
        assert abs(len(resolved.value["array"]) - 16000) <= 2
        assert np.abs(resolved.value["array"]).max() < 1e-3  # the two channels cancel when downmixed

    def test_video_decoder_samples_frames_once(self):
        decoder = VideoDecoder(frames=40, fps=10.0)
        resolved = stm.resolve(decoder, ResolveContext(limits=stm.DecodeLimits(video_fps=2.0)))
        frames = np.asarray(resolved.value["array"])
        assert resolved.modality == "video"
        assert decoder.requested == [0, 5, 10, 15, 20, 25, 30, 35]
        assert frames.shape == (8, 24, 32, 3)
        assert [int(f[0, 0, 0]) for f in frames] == [i * 6 for i in (0, 5, 10, 15, 20, 25, 30, 35)]
