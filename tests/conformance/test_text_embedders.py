"""Classic text embedders (BERT + mean pooling), StaticEmbedding and Router models: our class returns what
upstream's returns, for every encode option; strings reach upstream's modules as strings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .conftest import assert_same

TEXTS = ["a photo of a cat", "what is the capital of france?", "a red square", "the quick brown fox jumps over the lazy dog",
         "cat_01.png and /data/audio/clip-2.wav"]

ENCODE_OPTIONS = [
    {},
    {"prompt": "query: "},
    {"prompt_name": "query"},
    {"normalize_embeddings": True},
    {"truncate_dim": 8},
    {"truncate_dim": 8, "normalize_embeddings": True},
    {"convert_to_tensor": True},
    {"convert_to_numpy": False},
    {"precision": "int8"},
    {"precision": "ubinary"},
    {"output_value": "token_embeddings"},
    {"output_value": None},
    {"output_value": None, "truncate_dim": 8},
    {"batch_size": 2},
]


def _ids(options):
    return ",".join(f"{k}={v}" for k, v in options.items()) or "defaults"


class TestBertEmbedder:
    @pytest.mark.parametrize("options", ENCODE_OPTIONS, ids=_ids)
    def test_encode(self, bert, options):
        assert_same(bert.upstream.encode(TEXTS, **options), bert.ours.encode(TEXTS, **options))

    @pytest.mark.parametrize("method", ["encode_query", "encode_document"])
    def test_query_document(self, bert, method):
        assert_same(getattr(bert.upstream, method)(TEXTS), getattr(bert.ours, method)(TEXTS))

    def test_single_string(self, bert):
        assert_same(bert.upstream.encode(TEXTS[0]), bert.ours.encode(TEXTS[0]))

    def test_array_of_strings(self, bert):
        assert_same(bert.upstream.encode(np.array(TEXTS)), bert.ours.encode(np.array(TEXTS)))

    def test_similarity(self, bert):
        a, b = bert.ours.encode(TEXTS[:2]), bert.ours.encode(TEXTS[2:])
        assert_same(bert.upstream.similarity(a, b), bert.ours.similarity(a, b))
        assert_same(bert.upstream.similarity_pairwise(a, b[:2]), bert.ours.similarity_pairwise(a, b[:2]))

    def test_url_like_text_is_text(self, bert, connection_log):
        """A text-only model reads every string as text, as upstream does: nothing is fetched."""
        assert_same(bert.upstream.encode(["https://127.0.0.1:9/a.png"]), bert.ours.encode(["https://127.0.0.1:9/a.png"]))
        assert connection_log == []


class TestStaticEmbedding:
    @pytest.mark.parametrize("options", [{}, {"prompt": "query: "}, {"truncate_dim": 8, "normalize_embeddings": True},
                                         {"output_value": None}, {"convert_to_tensor": True}], ids=_ids)
    def test_encode(self, static, options):
        assert_same(static.upstream.encode(TEXTS, **options), static.ours.encode(TEXTS, **options))

    def test_module_receives_strings(self, static, monkeypatch):
        seen = []
        module = static.ours[0]
        original = module.preprocess
        monkeypatch.setattr(module, "preprocess", lambda inputs, *a, **k: seen.extend(inputs) or original(inputs, *a, **k))
        static.ours.encode(TEXTS)
        assert sorted(seen) == sorted(TEXTS) and all(type(s) is str for s in seen)


class TestRouter:
    @pytest.mark.parametrize("method", ["encode_query", "encode_document"])
    def test_routes(self, router, method):
        assert_same(getattr(router.upstream, method)(TEXTS), getattr(router.ours, method)(TEXTS))

    def test_task_argument(self, router):
        assert_same(router.upstream.encode(TEXTS, task="document"), router.ours.encode(TEXTS, task="document"))

    @pytest.mark.parametrize("task", ["query", "document"])
    def test_legacy_task_keyed_dicts(self, router, task):
        inputs = [{task: text} for text in TEXTS]
        expected = router.upstream.encode(inputs)
        assert_same(expected, router.ours.encode(inputs))
        assert_same(expected, router.ours.encode_query(TEXTS) if task == "query" else router.ours.encode_document(TEXTS))

    def test_prompt(self, router):
        assert_same(router.upstream.encode_query(TEXTS, prompt="q: "), router.ours.encode_query(TEXTS, prompt="q: "))


class TestSaveLoad:
    @pytest.mark.parametrize("direction", ["ours-to-upstream", "upstream-to-ours"])
    def test_round_trip(self, static, tmp_path, direction):
        import sentence_transformers as st

        import st_multimodal as stm

        saver, loader = (static.ours, st.SentenceTransformer) if direction == "ours-to-upstream" else (static.upstream, stm.SentenceTransformer)
        saver.save(str(tmp_path / "saved"))
        loaded = loader(str(tmp_path / "saved"), device="cpu")
        assert_same(saver.encode(TEXTS), loaded.encode(TEXTS))


def test_token_embeddings_are_tensors(bert):
    rows = bert.ours.encode(TEXTS[:2], output_value="token_embeddings")
    assert all(isinstance(row, torch.Tensor) and row.ndim == 2 for row in rows)


def test_mine_hard_negatives_with_a_static_model(static):
    """Upstream utilities that call ``encode`` work on our class as on upstream's."""
    datasets = pytest.importorskip("datasets")
    from sentence_transformers.util import mine_hard_negatives

    pairs = datasets.Dataset.from_dict({"anchor": ["a photo of a cat", "a red square", "a dog barking in the park",
                                                   "the sound of a piano"],
                                        "positive": ["a cat", "a square", "a dog", "a piano"]})
    mined = [mine_hard_negatives(pairs, model, num_negatives=1, verbose=False) for model in (static.upstream, static.ours)]
    assert mined[0].to_dict() == mined[1].to_dict() and len(mined[0]) > 0
