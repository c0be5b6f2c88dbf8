"""The shipped demo model: loads offline, small, and retrieves held-out shapes through one mixed encode call."""

from __future__ import annotations

import pytest

import st_multimodal
from st_multimodal.demo import CLASSES, caption, demo_model, demo_model_path, evaluate_retrieval, heldout_examples


@pytest.fixture(scope="module")
def model():
    return demo_model()


@pytest.fixture(scope="module")
def heldout():
    """A fresh held-out set (2 per class, a seed the training script's evaluation did not use)."""
    return list(heldout_examples(2, seed=12345))


class TestDemoModel:
    def test_loads_offline_as_our_class(self, model, connection_log):
        assert isinstance(model, st_multimodal.SentenceTransformer)
        assert model.modalities == ["text", "image"]
        assert connection_log == []

    def test_folder_is_small_and_has_a_model_card(self):
        folder = demo_model_path()
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        assert size < 5 * 1024 * 1024
        card = (folder / "README.md").read_text(encoding="utf-8")
        assert "not a general-purpose model" in card
        assert "text->image recall@1" in card and "scripts/train_demo_model.py" in card

    def test_heldout_text_to_image_recall(self, model, heldout):
        captions = [caption(shape, colour) for shape, colour in CLASSES]
        embeddings = model.encode(captions + [ex.png() for ex in heldout], convert_to_tensor=True)  # one mixed call
        scores = model.similarity(embeddings[: len(captions)], embeddings[len(captions) :])
        best = scores.argmax(dim=1)
        recall_at_1 = sum(heldout[int(i)].label == q for q, i in enumerate(best)) / len(captions)
        assert recall_at_1 >= 0.9

    def test_a_red_circle_ranks_a_red_circle_first(self, model, heldout):
        one_per_class = {ex.label: ex for ex in heldout}
        images = [one_per_class[label] for label in sorted(one_per_class)]
        embeddings = model.encode(["a red circle"] + [ex.png() for ex in images], convert_to_tensor=True)
        top = int(model.similarity(embeddings[:1], embeddings[1:]).argmax())
        assert (images[top].shape, images[top].colour) == ("circle", "red")

    def test_evaluate_retrieval(self, model, heldout):
        scores = evaluate_retrieval(model, heldout)
        assert scores.num_images == len(heldout)
        assert scores.text_to_image_recall_at_1 >= 0.9
        assert scores.image_to_text_accuracy >= 0.9

    def test_missing_folder_is_reported(self, monkeypatch, tmp_path):
        import st_multimodal.demo as demo

        monkeypatch.setattr(demo, "demo_model_path", lambda: tmp_path)
        with pytest.raises(FileNotFoundError, match="train_demo_model.py"):
            demo.demo_model()
