"""The README's main job and the examples (which mirror the multimodal post) run offline and give right answers."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

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


class TestExamples:
    def test_encode_images_from_url_path_and_pil(self, examples_on_path, capsys):
        runpy.run_path(str(EXAMPLES / "encode_images.py"), run_name="__main__")
        assert "image embeddings: (3, " in capsys.readouterr().out

    def test_cross_modal_similarity(self, examples_on_path, capsys):
        runpy.run_path(str(EXAMPLES / "cross_modal_similarity.py"), run_name="__main__")
        out = capsys.readouterr().out
        for text, name in [("a red circle", "red_circle.png"), ("a blue triangle", "blue_triangle.png")]:
            line = next(line for line in out.splitlines() if line.startswith(repr(text)))
            assert name in line

    def test_query_document(self, examples_on_path, capsys):
        runpy.run_path(str(EXAMPLES / "query_document.py"), run_name="__main__")
        assert capsys.readouterr().out.splitlines()[0].startswith("yellow_circle.png")

    def test_rerank_mixed_pairs(self, examples_on_path, capsys):
        runpy.run_path(str(EXAMPLES / "rerank.py"), run_name="__main__")
        out = capsys.readouterr().out
        assert "scores:" in out and "rank:" in out and "corpus_id" in out
