"""The built-in probes: byte-stable, chosen by the model's modalities, pinned to the probe-set version."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from st_multimodal.selfcheck import PROBE_SET_VERSION, embedding_probes, pair_probes
from st_multimodal.selfcheck.probes import probe_audio_array, probe_image_array, probe_video_array
from st_multimodal.types import ResolveContext

PINNED_PROBE_SETS = {"1": "6de948011abc6b43cde39401576e92103b310acdb50f71e225576472929e053b"}
"""sha256 over every probe's name, modality and content hash, per probe-set version.

Not a computed result under test but a tripwire: if this fails, a probe changed. Bump
PROBE_SET_VERSION (saved references become incomparable) and pin the new digest beside the old one.
"""


class AllModalities:
    """A stand-in model that takes every modality, with a 16 kHz audio front end."""

    def supports(self, modality) -> bool:
        return True

    def resolve_context(self) -> ResolveContext:
        return ResolveContext(audio_sampling_rate=16_000)


def probe_set_digest(model) -> str:
    digest = hashlib.sha256()
    for probe in embedding_probes(model):
        digest.update(f"{probe.name}|{probe.modality}|{probe.sha256}\n".encode())
    for name, modality, _, sha256 in pair_probes(model):
        digest.update(f"{name}|{modality}|{sha256}\n".encode())
    return digest.hexdigest()


class TestPinned:
    def test_probe_set_matches_its_version(self):
        assert probe_set_digest(AllModalities()) == PINNED_PROBE_SETS[PROBE_SET_VERSION]


class TestProbeImage:
    @pytest.mark.parametrize(("width", "height"), [(224, 224), (320, 192)])
    def test_size_and_content(self, width, height):
        image = probe_image_array(width, height)
        assert image.shape == (height, width, 3) and image.dtype == np.uint8
        colours = {tuple(c) for c in image.reshape(-1, 3)}
        assert {(220, 30, 30), (30, 40, 210), (40, 190, 60)} <= colours  # disc, square, triangle
        assert len(colours) > 1000  # and a gradient behind them



class TestSameBytesInEveryProcess:
    """Raw probe arrays against digests computed in another process (independent of ``content_sha256``)."""

    @pytest.mark.parametrize(("make", "digest"), [
        (lambda: probe_image_array(224, 224), "621f2f9ed6763e2eec98245ca1330a76d430919a0227213358fc1f8b5e645d3a"),
        (lambda: probe_image_array(320, 192), "5e3eb9cbdf7edeece10b8ab26ff2870b59bafa3297200acadc3eefc30556d974"),
        (lambda: probe_audio_array(16_000), "9047cbe510bd446e08eb8daafd78cd704cd27530d3978874e309744721f5d292"),
        (lambda: probe_audio_array(48_000), "0bf1d9c65d6e64e598452ecb3c67cb6c7de09dd040d121cd46866f478dfdbd28"),
        (lambda: probe_video_array(), "01f1b3910fb3edd6bb53fdfc47171484928b8e2b308eba2892613fc0995b6797"),
    ])
    def test_raw_bytes(self, make, digest):
        assert hashlib.sha256(np.ascontiguousarray(make()).tobytes()).hexdigest() == digest

    def test_the_probe_hash_follows_the_content(self):
        from st_multimodal.selfcheck.probes import content_sha256

        image = probe_image_array(224, 224)
        changed = image.copy()
        changed[0, 0, 0] ^= 1
        assert content_sha256(image) != content_sha256(changed)
        assert content_sha256("a red circle") != content_sha256("a red circle ")


class TestProbeAudio:
    @pytest.mark.parametrize("rate", [16_000, 48_000])
    def test_one_second_of_16_bit_steps(self, rate):
        audio = probe_audio_array(rate)
        assert audio.shape == (rate,) and audio.dtype == np.float32
        steps = audio * 32768
        assert np.array_equal(steps, np.round(steps)) and np.abs(audio).max() < 1
        assert np.abs(audio[: rate // 100]).max() < np.abs(audio[rate // 2 :]).max() / 5  # fades in


class TestProbeVideo:
    def test_frames_move(self):
        frames = probe_video_array()
        assert frames.shape == (4, 64, 64, 3) and frames.dtype == np.uint8
        assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))


class TestChoiceByModality:
    @pytest.mark.parametrize(
        ("fixture", "expected"),
        [
            ("clip_model", {"text", "image"}),
            ("clap_model", {"text", "audio"}),
            ("qwen_embedder", {"text", "image", "image+text", "video"}),
        ],
    )
    def test_modalities(self, request, fixture, expected):
        model = request.getfixturevalue(fixture)
        assert {probe.modality for probe in embedding_probes(model)} == expected

    def test_audio_made_at_the_models_rate(self, clap_model):
        (audio,) = [p for p in embedding_probes(clap_model) if p.modality == "audio"]
        assert audio.value.options["sampling_rate"] == 48_000 and audio.value.value.shape == (48_000,)

    def test_names_unique_and_ordered(self):
        names = [p.name for p in embedding_probes(AllModalities())]
        assert len(names) == len(set(names))
        assert [n.split("/")[0] for n in names] == ["text"] * 3 + ["image"] * 2 + ["image+text", "audio", "video"]

    def test_pairs_for_text_and_image_reranker(self, qwen_reranker):
        groups = pair_probes(qwen_reranker)
        assert [(name, modality, len(pairs)) for name, modality, pairs, _ in groups] == [
            ("pairs/text", "text->text", 3), ("pairs/image", "text->image", 2), ("pairs/image-query", "image->text", 3)
        ]
