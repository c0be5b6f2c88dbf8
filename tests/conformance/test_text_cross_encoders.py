"""Classic text cross-encoders (BERT sequence classification, 1 and 3 labels): pairs of strings go to upstream as
pairs of strings, and every ``predict`` / ``rank`` argument, deprecated ones included, behaves as upstream's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .conftest import assert_same

PAIRS = [("a photo of a cat", "a cat"), ["what is the capital of france?", "paris is the capital of france."],
         ("a red square", "a blue circle in the center"), ("https://127.0.0.1:9/a.png", "/no/such/file.jpg")]
QUERY = "what is the capital of france?"
DOCUMENTS = ["paris is the capital of france.", "a photo of a dog", "the sound of a piano", "a red square"]

PREDICT_OPTIONS = [
    {},
    {"apply_softmax": True},
    {"activation_fn": torch.nn.Identity()},
    {"activation_fct": torch.nn.Tanh()},  # deprecated name, still accepted
    {"convert_to_tensor": True},
    {"convert_to_numpy": False},
    {"batch_size": 1},
    {"prompt": "instruct: "},
    {"num_workers": 2},  # deprecated, no effect
]


def _ids(options):
    return ",".join(f"{k}={type(v).__name__ if isinstance(v, torch.nn.Module) else v}" for k, v in options.items()) or "defaults"


class TestPredict:
    @pytest.mark.parametrize("options", PREDICT_OPTIONS, ids=_ids)
    def test_predict(self, text_cross_encoder, options):
        pair = text_cross_encoder
        assert_same(pair.upstream.predict(PAIRS, **options), pair.ours.predict(PAIRS, **options))

    def test_single_pair(self, text_cross_encoder):
        pair = text_cross_encoder
        assert_same(pair.upstream.predict(PAIRS[0]), pair.ours.predict(PAIRS[0]))

    def test_deprecated_sentences_keyword(self, text_cross_encoder):
        pair = text_cross_encoder
        assert_same(pair.upstream.predict(sentences=PAIRS), pair.ours.predict(sentences=PAIRS))

    @pytest.mark.parametrize("shape", ["2-d", "1-d"])
    def test_numpy_array_of_pairs(self, text_cross_encoder, shape):
        pair = text_cross_encoder
        array = np.array([list(p) for p in PAIRS[:3]]) if shape == "2-d" else np.array(list(PAIRS[0]))
        assert_same(pair.upstream.predict(array), pair.ours.predict(array))

    def test_module_receives_string_pairs(self, text_cross_encoder, monkeypatch):
        seen = []
        module = text_cross_encoder.ours[0]
        original = module.preprocess
        monkeypatch.setattr(module, "preprocess", lambda inputs, *a, **k: seen.extend(inputs) or original(inputs, *a, **k))
        text_cross_encoder.ours.predict(PAIRS)
        assert sorted(map(tuple, seen)) == sorted(map(tuple, PAIRS))
        assert all(isinstance(p, (tuple, list)) and all(type(s) is str for s in p) for p in seen)


RANK_OPTIONS = [
    {},
    {"top_k": 2},
    {"return_documents": True},
    {"activation_fn": torch.nn.Identity()},
    {"convert_to_tensor": True},  # deprecated on rank, no effect
    {"convert_to_numpy": True},
    {"apply_softmax": True},  # deprecated on rank, no effect
    {"activation_fct": torch.nn.Sigmoid()},
    {"prompt": "instruct: ", "batch_size": 2},
]


class TestRank:
    @pytest.mark.parametrize("options", RANK_OPTIONS, ids=_ids)
    def test_rank(self, reranker_1, options):
        assert_same(reranker_1.upstream.rank(QUERY, DOCUMENTS, **options), reranker_1.ours.rank(QUERY, DOCUMENTS, **options))

    def test_rank_needs_one_label(self, text_cross_encoder):
        pair = text_cross_encoder
        if pair.upstream.num_labels == 1:
            pytest.skip("ranking works with one label")
        for model in (pair.upstream, pair.ours):
            with pytest.raises(ValueError, match="num_labels=1"):
                model.rank(QUERY, DOCUMENTS)


class TestEvaluation:
    """Evaluators (which write the model card's scores) give the same metrics through both classes."""

    def test_correlation_evaluator(self, reranker_1):
        from sentence_transformers.cross_encoder.evaluation import CrossEncoderCorrelationEvaluator

        evaluator = CrossEncoderCorrelationEvaluator([tuple(p) for p in PAIRS[:3]], [0.9, 0.1, 0.4], name="sts")
        expected = reranker_1.upstream.evaluate(evaluator)
        assert expected and reranker_1.ours.evaluate(evaluator) == pytest.approx(expected)

    def test_model_card_keeps_scores(self, reranker_1):
        from sentence_transformers.cross_encoder.evaluation import CrossEncoderCorrelationEvaluator

        evaluator = CrossEncoderCorrelationEvaluator([tuple(p) for p in PAIRS[:3]], [0.9, 0.1, 0.4], name="card")
        metrics = {model: model.evaluate(evaluator) for model in (reranker_1.upstream, reranker_1.ours)}
        cards = [model.model_card_data.eval_results_dict.get(evaluator) for model in metrics]
        assert cards[0] and cards[1] == pytest.approx(cards[0])
