"""Multimodal models of the zoo (CLIP, CLAP, Qwen3-VL embedder and reranker, ColQwen multi-vector): on inputs upstream
accepts (texts, PIL images, audio dicts), our classes return what upstream's return."""

from __future__ import annotations

import numpy as np
import pytest
import sentence_transformers

from st_multimodal.testing import media

from .conftest import assert_same, zoo_pair

TEXTS = ["a photo of a cat", "a red square on a white background", "a dog barking in the park"]
IMAGES = [media.image(seed, w=64 + 16 * seed, h=48 + 8 * seed) for seed in range(3)]
UPSTREAM_6_3 = tuple(int(p) for p in sentence_transformers.__version__.split(".")[:2]) >= (6, 3)


@pytest.fixture(scope="module")
def clip(zoo_path):
    return zoo_pair(zoo_path, "clip", "SentenceTransformer")


@pytest.fixture(scope="module")
def clap(zoo_path):
    return zoo_pair(zoo_path, "clap", "SentenceTransformer")


@pytest.fixture(scope="module")
def qwen_embedding(zoo_path):
    return zoo_pair(zoo_path, "qwen3vl-embedding", "SentenceTransformer")


@pytest.fixture(scope="module")
def qwen_reranking(zoo_path):
    return zoo_pair(zoo_path, "qwen3vl-reranker", "CrossEncoder")


@pytest.fixture(scope="module")
def colqwen(zoo_path):
    return zoo_pair(zoo_path, "colqwen", "MultiVectorEncoder")


class TestClip:
    @pytest.mark.parametrize("options", [{}, {"normalize_embeddings": True, "truncate_dim": 8}, {"convert_to_tensor": True},
                                         {"output_value": None}, {"output_value": None, "truncate_dim": 8}],
                             ids=["defaults", "normalize+truncate", "tensor", "raw", "raw+truncate"])
    @pytest.mark.parametrize("inputs", [TEXTS, IMAGES], ids=["texts", "images"])
    def test_encode(self, clip, inputs, options):
        assert_same(clip.upstream.encode(inputs, **options), clip.ours.encode(inputs, **options), atol=1e-4)

    def test_text_image_dict(self, clip):
        item = {"image": IMAGES[0]}
        assert_same(clip.upstream.encode([item]), clip.ours.encode([item]), atol=1e-4)


def test_clap_text_and_audio(clap):
    audio = [{"array": media.wav_samples(seconds=0.5, sr=48000, channels=1, freq=f).ravel().astype(np.float32), "sampling_rate": 48000}
             for f in (220.0, 440.0)]
    assert_same(clap.upstream.encode(TEXTS), clap.ours.encode(TEXTS), atol=1e-4)
    assert_same(clap.upstream.encode(audio), clap.ours.encode(audio), atol=1e-4)


class TestQwenEmbedding:
    @pytest.mark.parametrize("method", ["encode", "encode_query", "encode_document"])
    def test_texts_and_images(self, qwen_embedding, method):
        for inputs in (TEXTS, IMAGES[:2]):
            expected = getattr(qwen_embedding.upstream, method)(inputs)
            assert_same(expected, getattr(qwen_embedding.ours, method)(inputs), atol=1e-4)

    def test_prompt_name(self, qwen_embedding):
        name = next(iter(qwen_embedding.upstream.prompts))
        assert_same(qwen_embedding.upstream.encode(TEXTS, prompt_name=name), qwen_embedding.ours.encode(TEXTS, prompt_name=name), atol=1e-4)


class TestQwenReranker:
    def test_text_pairs(self, qwen_reranking):
        pairs = [(TEXTS[0], TEXTS[1]), [TEXTS[2], TEXTS[0]]]
        assert_same(qwen_reranking.upstream.predict(pairs), qwen_reranking.ours.predict(pairs), atol=1e-4)

    def test_text_image_pairs(self, qwen_reranking):
        pairs = [(TEXTS[0], IMAGES[0]), (TEXTS[1], IMAGES[1])]
        assert_same(qwen_reranking.upstream.predict(pairs), qwen_reranking.ours.predict(pairs), atol=1e-4)

    def test_rank(self, qwen_reranking):
        expected = qwen_reranking.upstream.rank(TEXTS[0], TEXTS[1:] + IMAGES[:1], return_documents=True)
        actual = qwen_reranking.ours.rank(TEXTS[0], TEXTS[1:] + IMAGES[:1], return_documents=True)
        assert [r["corpus_id"] for r in actual] == [r["corpus_id"] for r in expected]
        assert [r["score"] for r in actual] == pytest.approx([r["score"] for r in expected], abs=1e-4)

    def test_rank_with_deprecated_convert_to_tensor(self, qwen_reranking):
        expected = qwen_reranking.upstream.rank(TEXTS[0], TEXTS[1:], convert_to_tensor=True)
        actual = qwen_reranking.ours.rank(TEXTS[0], TEXTS[1:], convert_to_tensor=True)
        assert [r["corpus_id"] for r in actual] == [r["corpus_id"] for r in expected]
        assert all(type(r["score"]) is float for r in actual)


class TestMultiVector:
    @pytest.mark.parametrize("options", [{}, {"normalize_embeddings": True}, {"convert_to_numpy": True}, {"output_value": None}],
                             ids=["defaults", "normalize", "numpy", "raw"])
    def test_encode_query_document(self, colqwen, options):
        assert_same(colqwen.upstream.encode_query(TEXTS, **options), colqwen.ours.encode_query(TEXTS, **options), atol=1e-4)
        assert_same(colqwen.upstream.encode_document(IMAGES[:2], **options), colqwen.ours.encode_document(IMAGES[:2], **options), atol=1e-4)

    @pytest.mark.skipif(not UPSTREAM_6_3, reason="truncate_dim on MultiVectorEncoder.encode arrived in sentence-transformers 6.3")
    @pytest.mark.parametrize("output_value", ["token_embeddings", None])
    def test_truncate_dim(self, colqwen, output_value):
        expected = colqwen.upstream.encode_query(TEXTS, truncate_dim=8, output_value=output_value)
        actual = colqwen.ours.encode_query(TEXTS, truncate_dim=8, output_value=output_value)
        assert_same(expected, actual, atol=1e-4)
        rows = actual if output_value else [row["token_embeddings"] for row in actual]
        assert all(row.shape[-1] == 8 for row in rows)

    def test_similarity(self, colqwen):
        queries, documents = colqwen.ours.encode_query(TEXTS[:2]), colqwen.ours.encode_document(TEXTS[1:])
        assert_same(colqwen.upstream.similarity(queries, documents), colqwen.ours.similarity(queries, documents))

    def test_compounding_note_is_upstreams(self, colqwen, caplog):
        """Pooling on top of a model's own pooling logs upstream's own note, once."""
        import copy
        import logging

        from sentence_transformers.multi_vector_encoder.modules import HierarchicalTokenPooling

        notes = []
        for model in (colqwen.upstream, colqwen.ours):
            pooled = copy.deepcopy(model)
            pooled.append(HierarchicalTokenPooling(pool_factor=2))
            logging.Logger.warning_once.cache_clear()
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                pooled.encode_document(TEXTS[:2], token_pooling=HierarchicalTokenPooling(pool_factor=2))
            notes.append([(r.name, r.getMessage()) for r in caplog.records if "compounding" in r.getMessage()])
        assert len(notes[0]) == 1 and notes[1] == notes[0]


def test_siglip_text_padding_travels_with_save(zoo_path, tmp_path):
    """Our SigLIP fixed-length text padding is written by ``save()``: upstream's class loads the same behaviour
    (documented in docs/differences.md)."""
    import st_multimodal as stm

    ours = stm.SentenceTransformer(str(zoo_path("siglip")), device="cpu")
    ours.save(str(tmp_path / "saved"))
    theirs = sentence_transformers.SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert theirs[0].processing_kwargs["text"]["padding"] == "max_length"
    assert_same(ours.encode(TEXTS), theirs.encode(TEXTS), atol=1e-4)
    alone = theirs.encode(TEXTS[:1])
    assert_same(alone, theirs.encode(TEXTS)[:1], atol=1e-5)  # batch-independent under upstream's class too
