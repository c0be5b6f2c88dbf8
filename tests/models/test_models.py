"""The drop-in model classes against the offline zoo: modalities, loader, mixed batches, prompts, rerankers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import st_multimodal as stm
from st_multimodal.testing import media


def cosine(a, b) -> np.ndarray:
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


IMAGES = [media.image(seed) for seed in range(3)]
TEXTS = ["a red car", "a bee on a pink flower", "a wasp on a wooden table"]


class TestModalities:
    @pytest.mark.parametrize(
        ("fixture", "expected"),
        [
            ("clip_model", {"text", "image"}),
            ("siglip_model", {"text", "image"}),
            ("clap_model", {"text", "audio"}),
            ("qwen_embedder", {"text", "image", "video", "message"}),
            ("qwen_reranker", {"text", "image", "video", "message"}),
        ],
    )
    def test_modalities(self, request, fixture, expected):
        model = request.getfixturevalue(fixture)
        assert set(model.modalities) == expected

    def test_unsupported_modality_names_what_is_supported(self, clap_model):
        with pytest.raises(stm.ModalityNotSupportedError, match=r"input 1 .*does not accept image.*accepts: text, audio"):
            clap_model.encode(["a beep", media.png_bytes()])


class TestLoader:
    @pytest.mark.parametrize(
        ("kind", "expected"),
        [("clip", "embedder"), ("siglip", "embedder"), ("clap", "embedder"),
         ("qwen3vl-embedding", "embedder"), ("qwen3vl-reranker", "reranker")],
    )
    def test_kind(self, zoo_path, kind, expected):
        assert stm.model_kind(str(zoo_path(kind))) == expected

    def test_load_returns_right_class(self, zoo_path):
        assert isinstance(stm.load(str(zoo_path("clip")), device="cpu"), stm.SentenceTransformer)
        reranker = stm.load(str(zoo_path("qwen3vl-reranker")), device="cpu")
        assert isinstance(reranker, stm.CrossEncoder)

    def test_cpu_dtype_is_float32(self, clip_model):
        assert next(clip_model.parameters()).dtype == torch.float32

    def test_explicit_dtype(self, zoo_path):
        model = stm.load(str(zoo_path("clip")), device="cpu", dtype="bfloat16")
        assert next(model.parameters()).dtype == torch.bfloat16

    def test_bad_dtype(self, zoo_path):
        with pytest.raises(ValueError, match="dtype"):
            stm.load(str(zoo_path("clip")), device="cpu", dtype="int3")


class TestMixedBatches:
    @pytest.mark.parametrize("batch_size", [1, 3, 4, 32])
    @pytest.mark.parametrize("fixture", ["clip_model", "siglip_model", "qwen_embedder"])
    def test_rows_equal_alone(self, request, fixture, batch_size):
        model = request.getfixturevalue(fixture)
        mixed = [IMAGES[0], TEXTS[0], IMAGES[1], TEXTS[1], TEXTS[2], IMAGES[2]]
        together = model.encode(mixed, batch_size=batch_size)
        alone = np.stack([model.encode(item) for item in mixed])
        assert together.shape == alone.shape
        assert cosine(together, alone).min() >= 0.9999

    def test_audio_and_text(self, clap_model):
        audio = {"array": np.sin(np.linspace(0, 3000, 24000)).astype(np.float32), "sampling_rate": 16000}
        mixed = ["a beep", audio, "a hum"]
        together = clap_model.encode(mixed, batch_size=2)
        alone = np.stack([clap_model.encode(item) for item in mixed])
        assert cosine(together, alone).min() >= 0.9999

    def test_audio_is_deterministic(self, clap_model):
        long_clip = {"array": np.random.default_rng(0).standard_normal(16000 * 30).astype(np.float32) * 0.1, "sampling_rate": 16000}
        assert np.array_equal(clap_model.encode(long_clip), clap_model.encode(long_clip))

    def test_video_and_image_and_text(self, qwen_embedder):
        video = media.mp4_bytes(frames=6, fps=3)
        mixed = ["a moving square", video, IMAGES[0]]
        together = qwen_embedder.encode(mixed, batch_size=3)
        alone = np.stack([qwen_embedder.encode(item) for item in mixed])
        assert cosine(together, alone).min() >= 0.9999

    def test_multimodal_dict(self, qwen_embedder):
        row = qwen_embedder.encode([{"text": "a red car", "image": IMAGES[0]}, "a red car"])
        assert row.shape[0] == 2 and cosine(row[0], row[1])[0] < 0.9999

    def test_list_in_multimodal_dict_refused(self, qwen_embedder):
        with pytest.raises(stm.UnsupportedInputError, match="list under 'image'"):
            qwen_embedder.encode([{"image": [IMAGES[0], IMAGES[1]]}, "next"])

    def test_generator_input(self, clip_model):
        from_generator = clip_model.encode(text for text in TEXTS)
        assert np.allclose(from_generator, clip_model.encode(TEXTS), atol=1e-6)


class TestPrompts:
    def test_query_and_document_prompts_differ(self, qwen_embedder):
        query = qwen_embedder.encode_query("a red car")
        document = qwen_embedder.encode_document("a red car")
        assert cosine(query, document)[0] < 0.9999

    def test_document_prompt_is_applied_to_images(self, qwen_embedder, zoo_path):
        from sentence_transformers import SentenceTransformer as UpstreamSentenceTransformer

        docs = qwen_embedder.encode_document(IMAGES)
        assert docs.shape == (3, qwen_embedder.get_embedding_dimension())
        with_prompt = qwen_embedder.encode(IMAGES, prompt=qwen_embedder.prompts["document"])
        assert cosine(docs, with_prompt).min() >= 0.9999
        assert cosine(docs, qwen_embedder.encode(IMAGES, prompt="Describe the picture.")).max() < 0.9999
        assert cosine(docs, qwen_embedder.encode_query(IMAGES)).max() < 0.9999  # the document prompt, not the query one
        upstream = UpstreamSentenceTransformer(str(zoo_path("qwen3vl-embedding")), device="cpu")
        assert cosine(docs, upstream.encode_document(IMAGES)).min() >= 0.9999


class TestSaveLoad:
    def test_round_trip(self, clip_model, tmp_path):
        before = clip_model.encode(TEXTS + IMAGES)
        clip_model.save(str(tmp_path / "saved"))
        again = stm.load(str(tmp_path / "saved"), device="cpu")
        assert isinstance(again, stm.SentenceTransformer)
        assert cosine(before, again.encode(TEXTS + IMAGES)).min() >= 0.9999


class TestReranker:
    def test_pairs_of_mixed_modalities(self, qwen_reranker):
        pairs = [("a red car", IMAGES[0]), (IMAGES[1], "a bee"), ("a red car", "a car that is red"), ("a bee", IMAGES[2])]
        together = qwen_reranker.predict(pairs, batch_size=3)
        alone = np.array([qwen_reranker.predict(pair) for pair in pairs])
        assert together.shape == (4,) and np.isfinite(together).all()
        assert np.allclose(together, alone, atol=1e-4)
        assert len(set(np.round(together, 5))) == 4

    def test_rank(self, qwen_reranker):
        docs = [IMAGES[0], "a car", IMAGES[1]]
        ranked = qwen_reranker.rank("a red car", docs, return_documents=True)
        scores = qwen_reranker.predict([("a red car", d) for d in docs])
        assert [r["corpus_id"] for r in ranked] == list(np.argsort(-scores))
        assert ranked[0]["text"] is docs[ranked[0]["corpus_id"]]

    def test_rank_skips_bad_documents(self, qwen_reranker):
        docs = ["a car", b"not an image", IMAGES[1]]
        ranked, failures = qwen_reranker.rank("a red car", docs, on_error="skip", return_failures=True)
        assert sorted(r["corpus_id"] for r in ranked) == [0, 2]
        assert [f.index for f in failures] == [1] and isinstance(failures[0].error, stm.DecodeError)

    def test_not_a_pair(self, qwen_reranker):
        with pytest.raises(stm.UnsupportedInputError, match="pair"):
            qwen_reranker.predict([("a", "b", "c")])


class TestAssembledReranker:
    def test_bare_vlm_folder_becomes_yes_no_reranker(self, zoo_path, tmp_path):
        import shutil

        bare = tmp_path / "bare-vlm"
        shutil.copytree(zoo_path("qwen3vl-reranker"), bare)
        for name in ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"):
            (bare / name).unlink()
        shutil.rmtree(bare / "1_LogitScore")
        model = stm.CrossEncoder(str(bare), device="cpu")
        assert type(model[1]).__name__ == "LogitScore"
        scores = model.predict([("a red car", IMAGES[0]), ("a", "b"), (IMAGES[1], "x")])
        assert scores.shape == (3,) and np.isfinite(scores).all() and len(set(np.round(scores, 5))) == 3


class TestUpstreamHandoff:
    """Images reach upstream as uint8 CHW tensors: the features must equal those of the PIL image."""

    @pytest.mark.parametrize("fixture", ["clip_model", "siglip_model", "qwen_embedder"])
    def test_tensor_and_pil_features_identical(self, request, fixture):
        from st_multimodal.upstream import upstream_value

        model = request.getfixturevalue(fixture)
        images = [media.image(s, w=64 + 8 * s, h=48 + 5 * s) for s in range(3)] + [media.image(9, w=640, h=480)]
        by_pil = model.preprocess(images)
        by_tensor = model.preprocess([upstream_value("image", image) for image in images])
        assert by_pil.keys() == by_tensor.keys()
        for key, value in by_pil.items():
            assert torch.equal(value, by_tensor[key]) if isinstance(value, torch.Tensor) else value == by_tensor[key]

    def test_reranker_pairs(self, qwen_reranker):
        from st_multimodal.upstream import upstream_value

        pairs = [("a cat", IMAGES[0]), (IMAGES[1], "x")]
        by_pil = qwen_reranker.preprocess(pairs)
        by_tensor = qwen_reranker.preprocess([tuple(upstream_value("image", v) if not isinstance(v, str) else v for v in p) for p in pairs])
        assert all(torch.equal(v, by_tensor[k]) if isinstance(v, torch.Tensor) else v == by_tensor[k] for k, v in by_pil.items())


class TestRerankerVideo:
    """(text, video) and (video, text) pairs score as upstream's own CrossEncoder scores the same video."""

    @pytest.fixture(scope="class")
    def upstream_reranker(self, zoo_path):
        from sentence_transformers import CrossEncoder as UpstreamCrossEncoder

        return UpstreamCrossEncoder(str(zoo_path("qwen3vl-reranker")), device="cpu")

    @pytest.fixture
    def clip_file(self, tmp_path):
        """A 6-frame clip at 2 fps (the default DecodeLimits.video_fps): every frame is kept, by us and by upstream."""
        path = tmp_path / "clip.mp4"
        path.write_bytes(media.mp4_bytes(frames=6, fps=2))
        return str(path)

    def test_every_video_form_scores_in_both_orders(self, qwen_reranker, clip_file):
        data = media.mp4_bytes(frames=6, fps=2)
        forms = [clip_file, data, stm.as_video(clip_file), stm.as_video(data)]
        scores = qwen_reranker.predict([("a grey square", v) for v in forms] + [(v, "a grey square") for v in forms])
        assert np.isfinite(scores).all()
        assert np.allclose(scores[:4], scores[0], atol=1e-6) and np.allclose(scores[4:], scores[4], atol=1e-6)
        assert not np.isclose(scores[0], scores[4])  # the query and document roles differ

    def test_video_sides_are_resized_ahead_with_identical_scores(self, qwen_reranker, clip_file, monkeypatch):
        from st_multimodal.pipeline.video_preresize import VideoPreResizer

        if VideoPreResizer.for_processor(qwen_reranker.processor) is None:
            pytest.skip("this transformers' Qwen3-VL video processor resizes inside its _preprocess")
        pairs = [("a grey square", clip_file), (clip_file, "x"), ("a grey square", "a grey square")]
        calls = []
        original = VideoPreResizer.__call__

        def counting(self, value, limits=stm.DecodeLimits()):
            out = original(self, value, limits)
            calls.append(out is not value)
            return out

        monkeypatch.setattr(VideoPreResizer, "__call__", counting)
        ahead = qwen_reranker.predict(pairs)
        assert calls == [True, True]  # both video sides were resized on the decode workers
        monkeypatch.setattr(VideoPreResizer, "for_processor", classmethod(lambda cls, processor: None))
        assert np.array_equal(ahead, qwen_reranker.predict(pairs))

    def test_equals_upstream_reading_the_same_file(self, qwen_reranker, upstream_reranker, clip_file):
        try:
            from torchcodec.decoders import VideoDecoder

            VideoDecoder(clip_file)  # upstream decodes a video path with torchcodec
        except Exception as exc:
            pytest.skip(f"torchcodec cannot decode here: {type(exc).__name__}")
        pairs = [("a grey square", clip_file), (clip_file, "a grey square"), ("x", clip_file)]
        ours = qwen_reranker.predict(pairs)
        theirs = np.array([upstream_reranker.predict([pair])[0] for pair in pairs])
        assert np.allclose(ours, theirs, rtol=0, atol=1e-5), (ours, theirs)

    def test_equals_upstream_given_the_same_frames(self, qwen_reranker, upstream_reranker):
        # 20 frames at 10 fps: our decoder keeps 4 (2 fps), described by their metadata
        video = stm.resolve(media.mp4_bytes(frames=20, fps=10), stm.ResolveContext()).value
        frames = torch.from_numpy(video["array"]).permute(0, 3, 1, 2).contiguous()
        metadata = {"video": {"video_metadata": [video["video_metadata"]]}}
        for pair, upstream_pair in [(("a grey square", stm.as_video(video["array"], fps=video["video_metadata"]["fps"])),
                                     ("a grey square", frames)),
                                    ((video, "a grey square"), (frames, "a grey square"))]:
            ours = qwen_reranker.predict([pair])
            theirs = upstream_reranker.predict([upstream_pair], processing_kwargs=metadata)
            assert np.allclose(ours, theirs, rtol=0, atol=1e-5), (ours, theirs)

    def test_batch_rows_equal_alone(self, qwen_reranker, clip_file):
        """Each video's metadata goes with its own frames, whatever else shares the batch."""
        slow = stm.as_video(np.stack([np.full((48, 64, 3), 40 * i, np.uint8) for i in range(4)]), fps=1)
        pairs = [("a grey square", clip_file), (slow, "a slow clip"), ("a red car", IMAGES[0]),
                 (clip_file, slow), ("a slow clip", slow), ("a", "b")]
        together = qwen_reranker.predict(pairs, batch_size=len(pairs))
        alone = np.array([qwen_reranker.predict([pair])[0] for pair in pairs])
        assert np.isfinite(together).all() and np.allclose(together, alone, atol=1e-4)
        assert len(set(np.round(together, 5))) == len(pairs)

    def test_audio_pairs_are_refused_by_a_model_without_audio(self, qwen_reranker):
        with pytest.raises(stm.ModalityNotSupportedError, match="audio"):
            qwen_reranker.predict([("a tone", media.wav_bytes(0.5))])


class TestUpstreamPairBatch:
    """How pair sides wrapped in ``{"array", ...}`` dicts are handed to upstream's pair path."""

    def test_videos_unwrapped_with_their_metadata_in_order(self):
        from st_multimodal.upstream import upstream_pair_batch

        a, b = torch.zeros(4, 3, 8, 8), torch.ones(2, 3, 8, 8)
        meta_a = {"total_num_frames": 4, "fps": 2.0, "duration": 2.0, "frames_indices": [0, 1, 2, 3]}
        pairs = [("q", {"array": a, "video_metadata": meta_a}), ({"array": b, "video_metadata": None}, "d"), ("q", "d")]
        batch, extra = upstream_pair_batch(pairs)
        assert batch[0][1] is a and batch[1][0] is b and batch[2] == ("q", "d")
        assert extra == {"video": {"video_metadata": [meta_a, {"total_num_frames": 2, "fps": None, "duration": None,
                                                                "frames_indices": [0, 1]}]}}

    def test_no_metadata_leaves_it_to_the_processor(self):
        from st_multimodal.upstream import upstream_pair_batch

        frames = torch.zeros(2, 3, 8, 8)
        batch, extra = upstream_pair_batch([("q", {"array": frames, "video_metadata": None})])
        assert batch == [("q", frames)] and extra == {}

    def test_audio_and_multimodal_sides(self):
        from st_multimodal.upstream import upstream_pair_batch

        samples, frames = np.zeros(1600, np.float32), torch.zeros(2, 3, 8, 8)
        meta = {"total_num_frames": 2, "fps": 2.0, "duration": 1.0, "frames_indices": [0, 1]}
        both = {"video": {"array": frames, "video_metadata": meta}, "audio": {"array": samples, "sampling_rate": 16000}}
        batch, extra = upstream_pair_batch([("q", {"array": samples, "sampling_rate": 16000}), (both, "d")])
        assert batch[0][1] is samples
        assert batch[1][0]["video"] is frames and batch[1][0]["audio"] is samples
        assert extra == {"video": {"video_metadata": [meta]}}
