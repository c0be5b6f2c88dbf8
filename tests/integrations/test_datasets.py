"""encode_dataset: Hugging Face datasets columns of images, audio, paths and texts; failures as a column."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from st_multimodal import MissingDependencyError, MultimodalInputError
from st_multimodal.testing import media

datasets = pytest.importorskip("datasets", reason="Hugging Face datasets is not installed")
from st_multimodal.integrations.datasets import encode_dataset  # noqa: E402


def _cosine(a, b) -> np.ndarray:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def image_dataset():
    """An Image() column: five pictures, a corrupt JPEG, a missing value."""
    images = [{"bytes": media.png_bytes(seed=i), "path": None} for i in range(5)]
    images += [{"bytes": media.truncated_jpeg_bytes(), "path": None}, None]
    return datasets.Dataset.from_dict({"id": list(range(7)), "image": images}).cast_column("image", datasets.Image())


class TestEncodeDataset:
    def test_image_feature_with_failures_as_a_column(self, clip_model, image_dataset):
        out = encode_dataset(clip_model, image_dataset, "image", batch_size=3, encode_batch_size=2)
        assert out.column_names == ["id", "image", "embedding", "error"] and out["id"] == list(range(7))
        assert out.features["image"] == datasets.Image()  # the input column is left as it was
        errors = out["error"]
        assert errors[:5] == [None] * 5 and errors[5].startswith("DecodeError") and "missing" in errors[6]
        embeddings = out["embedding"]
        assert embeddings[5] is None and embeddings[6] is None
        expected = clip_model.encode([media.png_bytes(seed=i) for i in range(5)])
        assert _cosine(embeddings[:5], expected).min() >= 0.9999

    def test_order_kept_after_shuffle(self, clip_model, image_dataset):
        shuffled = image_dataset.select(range(5)).shuffle(seed=3)
        out = encode_dataset(clip_model, shuffled, "image", batch_size=2)
        expected = clip_model.encode([media.png_bytes(seed=i) for i in out["id"]])
        assert _cosine(out["embedding"], expected).min() >= 0.9999

    def test_paths_and_texts(self, clip_model, tmp_path):
        (tmp_path / "a.png").write_bytes(media.png_bytes(seed=7))
        ds = datasets.Dataset.from_dict({"x": [str(tmp_path / "a.png"), "a red car", str(tmp_path / "gone.png")]})
        out = encode_dataset(clip_model, ds, "x", output_column="vec", error_column="why")
        assert out["why"][:2] == [None, None] and "gone.png" in out["why"][2]
        assert _cosine(out["vec"][:2], clip_model.encode([tmp_path / "a.png", "a red car"])).min() >= 0.9999

    def test_modality_states_what_strings_are(self, clip_model):
        ds = datasets.Dataset.from_dict({"caption": ["cat.jpg"]})
        out = encode_dataset(clip_model, ds, "caption", modality="text")
        assert out["error"] == [None]
        from st_multimodal import as_text

        assert _cosine(out["embedding"], clip_model.encode([as_text("cat.jpg")])).min() >= 0.9999

    def test_audio_feature_without_torchcodec(self, clap_model):
        wav = media.wav_bytes(0.5, 16000, 1)
        ds = datasets.Dataset.from_dict({"audio": [{"bytes": wav, "path": None}]}).cast_column("audio", datasets.Audio())
        out = encode_dataset(clap_model, ds, "audio")
        assert out["error"] == [None]
        assert _cosine(out["embedding"], clap_model.encode([wav])).min() >= 0.9999

    def test_audio_dicts(self, clap_model):
        samples = (media.wav_samples(0.5, 16000, 1).reshape(-1) / 32768).astype(np.float32)
        ds = datasets.Dataset.from_dict({"audio": [{"array": samples, "sampling_rate": 16000}]})
        out = encode_dataset(clap_model, ds, "audio")
        expected = clap_model.encode([{"array": samples, "sampling_rate": 16000}])
        assert _cosine(out["embedding"], expected).min() >= 0.9999

    def test_iterable_dataset(self, clip_model, image_dataset):
        rows = list(encode_dataset(clip_model, image_dataset.to_iterable_dataset(), "image", batch_size=4))
        assert [r["id"] for r in rows] == list(range(7)) and rows[5]["embedding"] is None
        assert [r["error"] is None for r in rows] == [True] * 5 + [False] * 2

    def test_raise_mode(self, clip_model, image_dataset):
        with pytest.raises(MultimodalInputError):
            encode_dataset(clip_model, image_dataset, "image", on_error="raise")
        out = encode_dataset(clip_model, image_dataset.select(range(2)), "image", on_error="raise")
        assert out.column_names == ["id", "image", "embedding"]

    def test_bad_arguments(self, clip_model, image_dataset):
        with pytest.raises(KeyError, match="no column 'nope'"):
            encode_dataset(clip_model, image_dataset, "nope")
        with pytest.raises(ValueError, match="already has a column named id"):
            encode_dataset(clip_model, image_dataset, "image", output_column="id")

    def test_missing_datasets_names_the_extra(self, clip_model, monkeypatch):
        monkeypatch.setitem(sys.modules, "datasets", None)
        with pytest.raises(MissingDependencyError, match=r"\[datasets\] extra"):
            encode_dataset(clip_model, object(), "x")
