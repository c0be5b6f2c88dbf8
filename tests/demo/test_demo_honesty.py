"""The demo's calibrated probabilities: high for what the model knows, under 0.5 for what it cannot know."""

from __future__ import annotations

import re

import pytest

from st_multimodal import MultimodalIndex
from st_multimodal.demo import demo_model, heldout_examples
from st_multimodal.demo.__main__ import main
from st_multimodal.demo.calibration_set import calibration_set
from st_multimodal.demo.unknown import RESERVED_WORDS, UNKNOWN_POOLS, unknown_texts

# Built only from RESERVED_WORDS and function words: neither training nor calibration saw any of them.
UNKNOWN_QUERIES = (
    "a photo of a cat",
    "a bowl of soup",
    "stock prices fell sharply today",
    "snowy mountains at sunset",
    "an orange pentagon",
    "how do i reset my password",
    "coffee",
    "the weather tomorrow",
)
FUNCTION_WORDS = {"a", "an", "of", "at", "the", "how", "do", "i", "my", "photo"}  # "photo": a template word
KNOWN_QUERIES = ("a red circle", "a blue triangle", "a yellow square", "a green circle")
BACKGROUND_WORDINGS = ("a red circle on white", "a blue square on a white background", "a red circle drawn on white")
"""Never trained on, and true of the demo's pictures: they must not be taken for unknown texts."""


def test_unknown_queries_use_no_word_seen_in_training_or_calibration():
    seen = {w for pool in UNKNOWN_POOLS.values() for words in pool.values() for w in words}
    for query in UNKNOWN_QUERIES:
        words = set(query.split())
        assert words <= RESERVED_WORDS | FUNCTION_WORDS, query
        assert not words & seen, query
    generated = set(" ".join(unknown_texts(2000, "train")).split()) | set(" ".join(unknown_texts(500, "calibration")).split())
    assert not generated & RESERVED_WORDS


def test_word_pools_are_disjoint():
    train, calibration = UNKNOWN_POOLS["train"], UNKNOWN_POOLS["calibration"]
    for key in train:
        assert not set(train[key]) & set(calibration[key]), key


@pytest.fixture(scope="module")
def index():
    index = MultimodalIndex(demo_model())
    pictures = list(heldout_examples(2))  # the demo's own collection
    index.add([ex.png() for ex in pictures], ids=[str(i) for i in range(len(pictures))],
              metadata=[{"caption": ex.caption} for ex in pictures])
    index.calibrate(**calibration_set().kwargs())
    return index


@pytest.mark.parametrize("query", UNKNOWN_QUERIES)
def test_queries_the_model_cannot_know_stay_under_one_half(index, query):
    best = index.search(query, top_k=1)[0]
    assert best.probability < 0.5, f"{query!r}: {best.probability:.3f}"


@pytest.mark.parametrize("query", KNOWN_QUERIES)
def test_known_queries_find_their_picture_with_a_high_probability(index, query):
    best = index.search(query, top_k=1)[0]
    assert best.metadata["caption"] == query
    assert best.probability > 0.5, f"{query!r}: {best.probability:.3f}"


@pytest.mark.parametrize("query", BACKGROUND_WORDINGS)
def test_wordings_about_the_white_background_are_not_rejected(index, query):
    best = index.search(query, top_k=1)[0]
    assert best.probability > 0.5, f"{query!r}: {best.probability:.3f}"


def test_demo_reports_that_nothing_matches_an_unknown_query(capsys):
    assert main(["--query", "a photo of a cat", "--per-class", "1"]) == 0
    out = capsys.readouterr().out
    assert "no picture matches" in out
    probabilities = [float(p) for p in re.findall(r"probability (\d\.\d+)", out)]
    assert probabilities and max(probabilities) < 0.5
    assert "under 0.5 means more likely not" in out  # the heading says what the probability means
