"""The README's main job and the examples (which mirror the multimodal post) run offline and give right answers."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield
    sys.modules.pop("_common", None)


class TestMainJob:
    def test_demo_finds_every_query(self, capsys):
        from st_multimodal.demo.__main__ import main

        assert main([]) == 0
        out = capsys.readouterr().out
        assert "All queries found the picture they describe." in out
        first_hit = out.split("query: 'a red circle'")[1].splitlines()[1]
        assert "red-circle" in first_hit and "probability" in first_hit


def upstream_demo_model():
    """The demo model loaded by upstream Sentence Transformers: an independent reference for the examples."""
    from sentence_transformers import SentenceTransformer

    from st_multimodal.demo import demo_model_path

    return SentenceTransformer(str(demo_model_path()), device="cpu")


def pictures(folder, names):
    from PIL import Image

    return [Image.open(folder / name).convert("RGB") for name in names]


class TestExamples:
    def test_encode_images_from_url_path_and_pil(self, examples_on_path, capsys):
        result = runpy.run_path(str(EXAMPLES / "encode_images.py"), run_name="__main__")
        got = result["img_embeddings"]
        assert f"image embeddings: {got.shape}" in capsys.readouterr().out
        # the URL, the path and the PIL image embed exactly as upstream embeds the three files' pixels
        expected = upstream_demo_model().encode(
            pictures(result["folder"], ["red_circle.png", "green_square.png", "blue_triangle.png"]))
        assert got.shape == expected.shape == (3, expected.shape[1])
        np.testing.assert_allclose(got, expected, atol=1e-5)

    def test_cross_modal_similarity(self, examples_on_path, capsys):
        result = runpy.run_path(str(EXAMPLES / "cross_modal_similarity.py"), run_name="__main__")
        out = capsys.readouterr().out
        upstream = upstream_demo_model()
        images = upstream.encode(pictures(result["folder"], result["names"]))
        texts = upstream.encode(result["texts"])
        expected = upstream.similarity(texts, images).numpy()
        np.testing.assert_allclose(result["similarities"].numpy(), expected, atol=1e-5)
        for text, name in [("a red circle", "red_circle.png"), ("a blue triangle", "blue_triangle.png")]:
            line = next(line for line in out.splitlines() if line.startswith(repr(text)))
            assert name in line and f"({expected[result['texts'].index(text)].max():.2f})" in line

    def test_query_document(self, examples_on_path, capsys):
        result = runpy.run_path(str(EXAMPLES / "query_document.py"), run_name="__main__")
        lines = capsys.readouterr().out.splitlines()
        upstream = upstream_demo_model()
        names = list(result["PICTURES"])
        query = upstream.encode_query("a yellow circle")
        documents = upstream.encode_document(pictures(result["folder"], names))
        expected = upstream.similarity(query, documents)[0].numpy()
        np.testing.assert_allclose(result["scores"].numpy(), expected, atol=1e-5)
        assert [line.split()[0] for line in lines] == [names[i] for i in np.argsort(-expected)]
        assert lines[0].startswith("yellow_circle.png")

    def test_rerank_mixed_pairs(self, examples_on_path, capsys):
        from sentence_transformers import CrossEncoder

        result = runpy.run_path(str(EXAMPLES / "rerank.py"), run_name="__main__")
        out = capsys.readouterr().out
        red, green, blue = pictures(result["folder"], ["red_circle.png", "green_square.png", "blue_triangle.png"])
        upstream = CrossEncoder(result["tiny_reranker_path"](), device="cpu")
        expected = upstream.predict([("a red circle", red), (green, "a green square"),
                                     ("a blue triangle", "a triangle that is blue")])
        np.testing.assert_allclose(result["scores"], expected, atol=1e-4)
        corpus_scores = upstream.predict([("a red circle", doc) for doc in (red, blue, "a red circle")])
        ranking = result["ranking"]
        assert [hit["corpus_id"] for hit in ranking] == list(np.argsort(-corpus_scores))
        np.testing.assert_allclose([hit["score"] for hit in ranking], np.sort(corpus_scores)[::-1], atol=1e-4)
        assert "scores:" in out and "rank:" in out
