"""The offline model zoo: every kind builds offline, loads in upstream Sentence Transformers, and
tells different inputs apart; builds are reproducible and the cache is safe to share."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers.cross_encoder.modules import LogitScore

from st_multimodal.testing import zoo

TINY_KINDS = [kind for kind in zoo.KINDS if kind != "clip-vit-b-32"]
TEXTS = ["a photo of a cat", "a red square on a white background"]


# ------------------------------------------------------------------------------------------- helpers
def _image(color: str, shape: str = "square", size: tuple[int, int] = (96, 80)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    if shape == "square":
        draw.rectangle([10, 10, 60, 60], fill=color)
    else:
        draw.ellipse([20, 5, 90, 75], fill=color)
    return image


def _tone(frequency: float, seconds: float = 1.0, rate: int = zoo.CLAP_SAMPLING_RATE) -> dict:
    t = np.arange(int(rate * seconds)) / rate
    return {"array": np.sin(2 * np.pi * frequency * t).astype(np.float32), "sampling_rate": rate}


def _noise(seconds: float = 0.5, rate: int = zoo.CLAP_SAMPLING_RATE) -> dict:
    samples = np.random.default_rng(0).standard_normal(int(rate * seconds)) * 0.3
    return {"array": samples.astype(np.float32), "sampling_rate": rate}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _weights_hash(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def zoo_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("zoo")


@pytest.fixture(scope="session")
def folders(zoo_root) -> dict[str, Path]:
    return {kind: zoo.cached_model(kind, root=zoo_root) for kind in TINY_KINDS}


@pytest.fixture(scope="session")
def encoders(folders) -> dict[str, SentenceTransformer]:
    kinds = ("clip", "siglip", "clap", "qwen3vl-embedding")
    return {kind: SentenceTransformer(str(folders[kind]), device="cpu") for kind in kinds}


@pytest.fixture(scope="session")
def reranker(folders) -> CrossEncoder:
    return CrossEncoder(str(folders["qwen3vl-reranker"]), device="cpu")


# ----------------------------------------------------------------------------------------- build_model
class TestBuildModel:
    @pytest.mark.parametrize("kind", TINY_KINDS)
    def test_same_seed_gives_identical_weights(self, kind, folders, tmp_path):
        rebuilt = zoo.build_model(kind, tmp_path / kind, seed=0)
        assert isinstance(rebuilt, Path)
        assert _weights_hash(rebuilt) == _weights_hash(folders[kind])

    @pytest.mark.parametrize("kind", ["clip", "qwen3vl-reranker"])
    def test_other_seed_gives_other_weights(self, kind, folders, tmp_path):
        assert _weights_hash(zoo.build_model(kind, tmp_path, seed=1)) != _weights_hash(folders[kind])

    def test_leaves_global_torch_rng_alone(self, tmp_path):
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        zoo.build_model("siglip", tmp_path, seed=7)
        assert torch.equal(torch.rand(3), expected)

    def test_unknown_kind_raises(self, tmp_path):
        with pytest.raises(ValueError, match="clip"):
            zoo.build_model("bert", tmp_path)

    def test_folders_are_complete_without_a_model_card(self, folders):
        for kind, folder in folders.items():
            assert (folder / "model.safetensors").is_file(), kind
            assert (folder / "config.json").is_file(), kind
            assert not (folder / "README.md").exists(), kind


# ---------------------------------------------------------------------------------------- cached_model
class TestCachedModel:
    def test_reuses_the_built_folder(self, zoo_root, folders, monkeypatch):
        monkeypatch.setattr(zoo, "build_model", lambda *a, **k: pytest.fail("rebuilt a cached model"))
        assert zoo.cached_model("clip", root=zoo_root) == folders["clip"]

    def test_folder_name_holds_kind_seed_and_version(self, folders):
        name = folders["qwen3vl-embedding"].name
        assert "qwen3vl-embedding" in name and "seed0" in name and zoo.ZOO_VERSION in name

    def test_default_root_is_under_the_temp_dir(self, tmp_path, monkeypatch):
        monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
        folder = zoo.cached_model("siglip", seed=3)
        assert folder.is_relative_to(tmp_path)
        assert (folder / "model.safetensors").is_file()

    def test_a_lost_race_keeps_the_winner_and_cleans_up(self, tmp_path, monkeypatch):
        real_build = zoo.build_model
        winner = tmp_path / f"siglip-seed0-zoo{zoo.ZOO_VERSION}"

        def build_while_another_process_finishes_first(kind, path, **kwargs):
            built = real_build(kind, path, **kwargs)
            real_build(kind, winner, **kwargs)
            (winner / "winner").touch()
            return built

        monkeypatch.setattr(zoo, "build_model", build_while_another_process_finishes_first)
        assert zoo.cached_model("siglip", root=tmp_path) == winner
        assert (winner / "winner").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == [winner.name]  # no staging left behind

    def test_unknown_kind_raises_before_touching_disk(self, tmp_path):
        with pytest.raises(ValueError):
            zoo.cached_model("nope", root=tmp_path / "zoo")
        assert not (tmp_path / "zoo").exists()


# ------------------------------------------------------------------------------- dual encoders
class TestBuildClip:
    def test_loads_with_text_and_image(self, encoders):
        assert encoders["clip"].modalities == ["text", "image"]

    def test_different_texts_differ(self, encoders):
        assert _cosine(*encoders["clip"].encode(TEXTS)) < 0.99

    def test_different_images_differ(self, encoders):
        assert _cosine(*encoders["clip"].encode([_image("red"), _image("blue", "circle")])) < 0.99

    def test_path_like_texts_do_not_collapse(self, encoders):
        # "/" and "_" must not fall back to <|endoftext|>, CLIP's pooled end token
        assert _cosine(*encoders["clip"].encode(["a_b/c_d", "x_y/z_w"])) < 0.99

    @pytest.mark.slow
    def test_vit_b_32_size(self, tmp_path):
        folder = zoo.build_clip(tmp_path, size="vit-b-32")
        config = json.loads((folder / "config.json").read_text())
        vision, text = config["vision_config"], config["text_config"]
        assert (vision["hidden_size"], vision["num_hidden_layers"], vision["patch_size"]) == (768, 12, 32)
        assert vision["image_size"] == 224
        assert (text["hidden_size"], text["num_hidden_layers"], config["projection_dim"]) == (512, 12, 512)
        embedding = SentenceTransformer(str(folder), device="cpu").encode([_image("red")])
        assert embedding.shape == (1, 512) and np.isfinite(embedding).all()

    def test_unknown_size_raises(self, tmp_path):
        with pytest.raises(ValueError, match="vit-b-32"):
            zoo.build_clip(tmp_path, size="huge")


class TestBuildSiglip:
    def test_loads_with_text_and_image(self, encoders):
        assert encoders["siglip"].modalities == ["text", "image"]

    def test_different_texts_and_images_differ(self, encoders):
        model = encoders["siglip"]
        assert _cosine(*model.encode(TEXTS)) < 0.99
        assert _cosine(*model.encode([_image("red"), _image("blue", "circle")])) < 0.99


class TestBuildClap:
    def test_loads_with_text_and_audio(self, encoders):
        assert encoders["clap"].modalities == ["text", "audio"]

    def test_sampling_rate_is_realistic(self, folders):
        processor = json.loads((folders["clap"] / "processor_config.json").read_text())
        extractor = processor["feature_extractor"]
        assert extractor["sampling_rate"] == 48_000
        assert extractor["truncation"] == "rand_trunc"

    def test_different_texts_and_audio_differ(self, encoders):
        model = encoders["clap"]
        assert _cosine(*model.encode(TEXTS)) < 0.99
        assert _cosine(*model.encode([_tone(440), _noise()])) < 0.99

    def test_long_clips_are_cropped_to_their_centre_by_this_package(self, folders):
        """The folder asks for ``rand_trunc`` (a random window per call); st_multimodal crops the centre first."""
        import st_multimodal as stm

        model = stm.SentenceTransformer(str(folders["clap"]), device="cpu")
        rate, window = zoo.CLAP_SAMPLING_RATE, zoo.CLAP_MAX_LENGTH_S * zoo.CLAP_SAMPLING_RATE
        t = np.arange(3 * window) / rate
        sweep = np.sin(2 * np.pi * (200 + 300 * t) * t).astype(np.float32)  # every window sounds different
        audio = lambda part: {"array": part, "sampling_rate": rate}  # noqa: E731
        whole, centre, head = model.encode([audio(sweep), audio(sweep[window : 2 * window]), audio(sweep[:window])])
        assert _cosine(whole, centre) > 0.9999
        assert _cosine(whole, head) < 0.99  # which window is kept matters
        np.testing.assert_allclose(model.encode([audio(sweep)])[0], whole, atol=1e-5)  # the same window every call


# ------------------------------------------------------------------------------- Qwen3-VL embedding
class TestBuildQwen3vlEmbedding:
    def test_loads_with_all_modalities(self, encoders):
        assert encoders["qwen3vl-embedding"].modalities == ["text", "image", "video", "message"]

    def test_module_layout(self, encoders):
        model = encoders["qwen3vl-embedding"]
        assert [type(module).__name__ for module in model] == ["Transformer", "Pooling", "Normalize"]
        assert model[1].pooling_mode == "lasttoken"

    def test_different_texts_and_images_differ(self, encoders):
        model = encoders["qwen3vl-embedding"]
        assert _cosine(*model.encode(TEXTS)) < 0.99
        assert _cosine(*model.encode([_image("red"), _image("blue", "circle")])) < 0.99

    def test_videos_encode_and_differ(self, encoders):
        first = [_image(color) for color in ("red", "green", "blue", "black")]
        second = [_image("yellow", "circle")] * 4
        metadata = {"fps": 2.0, "total_num_frames": 4}
        videos = [{"video": {"array": frames, "video_metadata": metadata}} for frames in (first, second)]
        embeddings = encoders["qwen3vl-embedding"].encode(videos)
        assert np.isfinite(embeddings).all()
        assert _cosine(*embeddings) < 0.99

    def test_query_and_document_prompts_differ(self, encoders):
        model = encoders["qwen3vl-embedding"]
        assert model.prompts["query"] != model.prompts["document"]
        query = model.encode_query(TEXTS[0])
        document = model.encode_document(TEXTS[0])
        assert _cosine(query, document) < 0.99

    def test_prompt_is_the_system_turn_and_generation_prompt_ends_it(self, encoders):
        model = encoders["qwen3vl-embedding"]
        features = model.preprocess([TEXTS[0]], prompt="Find cats.")
        rendered = model.tokenizer.decode(features["input_ids"][0])
        assert rendered.startswith("<|im_start|>system\nFind cats.<|im_end|>")
        assert rendered.endswith("<|im_start|>assistant\n")


# -------------------------------------------------------------------------------- Qwen3-VL reranker
class TestBuildQwen3vlReranker:
    def test_loads_as_logit_score_cross_encoder(self, reranker):
        assert reranker.modalities == ["text", "image", "video", "message"]
        assert isinstance(reranker[1], LogitScore)
        assert isinstance(reranker.activation_fn, torch.nn.Identity)
        tokenizer = reranker.tokenizer
        assert tokenizer.convert_ids_to_tokens([reranker[1].true_token_id, reranker[1].false_token_id]) == [
            "yes",
            "no",
        ]
        assert tokenizer.padding_side == "left"

    def test_scores_mixed_pairs(self, reranker):
        pairs = [
            ("a red square", _image("red")),
            (_image("blue", "circle"), "a blue circle"),
            ("what is the capital of france?", "paris is the capital of france."),
        ]
        scores = reranker.predict(pairs)
        assert scores.shape == (3,)
        assert np.isfinite(scores).all()
        assert len({round(float(score), 5) for score in scores}) == 3

    def test_renders_the_reranker_template(self, reranker):
        features = reranker.preprocess([("a red square", "paris"), ("q", "a much longer document text")])
        first = reranker.tokenizer.decode(features["input_ids"][0], skip_special_tokens=False)
        assert "<Instruct>: " in first and "\n<Query>:a red square\n<Document>:paris" in first
        assert first.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
        assert features["attention_mask"][:, -1].all()  # left padding: every row ends in a real token

    def test_prompt_becomes_the_instruction(self, reranker):
        features = reranker.preprocess([("a red square", "paris")], prompt="Find red things.")
        rendered = reranker.tokenizer.decode(features["input_ids"][0])
        assert "<Instruct>: Find red things.\n<Query>:" in rendered
        plain, prompted = reranker.predict([("a red square", "paris")]), reranker.predict(
            [("a red square", "paris")], prompt="Find red things."
        )
        assert plain[0] != prompted[0]


# ------------------------------------------------------------------------------- ColQwen multi-vector
class TestBuildColqwen:
    @pytest.fixture(scope="class")
    def colqwen(self, folders):
        from sentence_transformers import MultiVectorEncoder

        return MultiVectorEncoder(str(folders["colqwen"]), device="cpu")

    def test_upstream_native_layout(self, colqwen, folders):
        config = json.loads((folders["colqwen"] / "config_sentence_transformers.json").read_text())
        assert config["model_type"] == "MultiVectorEncoder" and colqwen.similarity_fn_name == "maxsim"
        assert [type(module).__name__ for module in colqwen] == ["Transformer", "Dense", "MultiVectorMask", "Normalize"]
        assert colqwen.prompts["query"] == zoo.COLQWEN_QUERY_PROMPT and colqwen.prompts["document"] == zoo.COLQWEN_DOCUMENT_PROMPT

    def test_text_and_images_give_unit_token_vectors(self, colqwen):
        rows = colqwen.encode_document([TEXTS[0], _image("red"), _image("blue", "circle")])
        assert all(row.ndim == 2 and row.shape[1] == zoo.COLQWEN_DIM for row in rows)
        assert all(torch.allclose(row.norm(dim=-1), torch.ones(len(row)), atol=1e-5) for row in rows)
        scores = colqwen.similarity(colqwen.encode_query(TEXTS), rows)
        assert scores.shape == (2, 3) and len({round(float(s), 4) for s in scores.flatten()}) == 6
