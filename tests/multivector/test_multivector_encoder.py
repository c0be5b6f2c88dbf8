"""st_multimodal.MultiVectorEncoder against upstream's on the tiny ColQwen-style model: every input form, prompts,
options, row order, failures and the embedding cache."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from sentence_transformers.multi_vector_encoder.modules import LambdaTokenPooling, MultiVectorMask

import st_multimodal as stm
from st_multimodal.testing import media, zoo

LOCAL = stm.FetchPolicy(allow_loopback=True, retries=0)
"""May reach the test server on 127.0.0.1."""

TEXTS = ["a blue triangle", "quarterly revenue grew by four percent in the north region", "red"]


def assert_same_tokens(ours, theirs) -> None:
    """Same number of rows, each the same shape, equal within float tolerance and per-token cosine >= 0.9999."""
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
        assert a.shape == b.shape, (i, a.shape, b.shape)
        assert torch.allclose(a, b, atol=1e-5), (i, (a - b).abs().max())
        assert torch.nn.functional.cosine_similarity(a, b, dim=-1).min() >= 0.9999, i


@pytest.fixture
def image_forms(tmp_path, server):
    """Three images as a path, bytes, a PIL image and a 127.0.0.1 URL; and the PIL images they decode to."""
    path = tmp_path / "page.png"
    path.write_bytes(media.png_bytes(w=96, h=96, seed=1))
    url = server.route("/scan.jpg", media.jpeg_bytes(w=128, h=64, seed=2), headers={"Content-Type": "image/jpeg"})
    forms = [path, media.png_bytes(seed=3), media.image(4, w=80, h=64), url]
    decoded = [Image.open(path).convert("RGB"), Image.open(io.BytesIO(media.png_bytes(seed=3))).convert("RGB"),
               media.image(4, w=80, h=64), Image.open(io.BytesIO(media.jpeg_bytes(w=128, h=64, seed=2))).convert("RGB")]
    return forms, decoded


class TestEqualsUpstream:
    @pytest.mark.parametrize("method", ["encode_query", "encode_document", "encode"])
    def test_every_input_form(self, colqwen, upstream_colqwen, image_forms, method):
        forms, decoded = image_forms
        ours = getattr(colqwen, method)(forms + TEXTS, fetch_policy=LOCAL)
        theirs = getattr(upstream_colqwen, method)(decoded + TEXTS)
        assert_same_tokens(ours, theirs)
        assert ours[0].shape[1] == zoo.COLQWEN_DIM

    def test_query_and_document_prompts_differ_like_upstream(self, colqwen, upstream_colqwen):
        query, document = colqwen.encode_query(TEXTS[0]), colqwen.encode_document(TEXTS[0])
        assert query.shape != document.shape or not torch.allclose(query, document)
        assert_same_tokens([query], [upstream_colqwen.encode_query(TEXTS[0])])
        assert_same_tokens([document], [upstream_colqwen.encode_document(TEXTS[0])])

    def test_explicit_prompt_and_normalize(self, colqwen, upstream_colqwen):
        kwargs = dict(prompt="Describe this.", normalize_embeddings=True)
        assert_same_tokens(colqwen.encode([media.image(0)] + TEXTS, **kwargs), upstream_colqwen.encode([media.image(0)] + TEXTS, **kwargs))

    def test_token_pooling_per_call(self, colqwen, upstream_colqwen):
        pooling = LambdaTokenPooling(lambda emb: emb[::2])
        ours = colqwen.encode_document([media.image(1)] + TEXTS, token_pooling=pooling)
        assert_same_tokens(ours, upstream_colqwen.encode_document([media.image(1)] + TEXTS, token_pooling=pooling))
        assert ours[1].shape[0] == -(-colqwen.encode_document(TEXTS[0]).shape[0] // 2)

    def test_kept_token_ids_mask(self, colqwen_path):
        """A MultiVectorMask keeping only image-patch tokens (ColPali's mask_non_image_embeddings) acts the same."""
        from sentence_transformers import MultiVectorEncoder as Upstream

        models = [stm.MultiVectorEncoder(colqwen_path, device="cpu"), Upstream(colqwen_path, device="cpu")]
        image_token = models[0].tokenizer.convert_tokens_to_ids("<|image_pad|>")
        for model in models:
            mask = next(m for m in model if isinstance(m, MultiVectorMask))
            mask.keep_only_token_ids = [image_token]
        ours, theirs = models[0].encode_document([media.image(0, w=96, h=96)]), models[1].encode_document([media.image(0, w=96, h=96)])
        assert_same_tokens(ours, theirs)
        assert 0 < ours[0].shape[0] <= 9  # only the image's visual tokens are left

    def test_scores_equal_upstream_similarity(self, colqwen, upstream_colqwen, image_forms):
        forms, decoded = image_forms
        ours = stm.maxsim(colqwen.encode_query(TEXTS, fetch_policy=LOCAL), colqwen.encode_document(forms, fetch_policy=LOCAL))
        theirs = upstream_colqwen.similarity(upstream_colqwen.encode_query(TEXTS), upstream_colqwen.encode_document(decoded))
        assert ours.shape == (3, 4)
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-5)


class TestOutputForms:
    def test_single_input_is_one_matrix(self, colqwen):
        single = colqwen.encode_query("a blue triangle")
        assert isinstance(single, torch.Tensor) and single.ndim == 2
        assert torch.allclose(single, colqwen.encode_query(["a blue triangle"])[0])

    def test_numpy_rows_are_unit_vectors(self, colqwen):
        rows = colqwen.encode_document([media.image(0), "x"], convert_to_numpy=True)
        assert all(isinstance(r, np.ndarray) and r.ndim == 2 for r in rows)
        np.testing.assert_allclose(np.linalg.norm(rows[0], axis=1), 1.0, atol=1e-5)

    def test_raw_outputs_keep_masks(self, colqwen):
        raw = colqwen.encode([media.image(0), "x"], output_value=None)
        assert {"token_embeddings", "attention_mask"} <= set(raw[0])
        kept = raw[1]["token_embeddings"][raw[1]["attention_mask"].bool()]
        assert torch.allclose(kept, colqwen.encode("x"), atol=1e-5)

    def test_unknown_kwarg_is_refused(self, colqwen):
        with pytest.raises(ValueError, match="convert_to_tensor"):
            colqwen.encode(["x"], convert_to_tensor=True)


class TestRowOrder:
    @pytest.mark.parametrize("batch_size", [1, 2, 3, 32])
    def test_mixed_batch_rows_equal_alone(self, colqwen, batch_size):
        mixed = [media.image(0), TEXTS[0], media.png_bytes(w=96, h=96, seed=5), TEXTS[1], TEXTS[2], media.image(2, w=128, h=64)]
        together = colqwen.encode_document(mixed, batch_size=batch_size)
        alone = [colqwen.encode_document(item) for item in mixed]
        assert_same_tokens(together, alone)


class TestFailures:
    @pytest.fixture
    def with_bad_file(self, tmp_path):
        bad = tmp_path / "broken.png"
        bad.write_bytes(media.png_bytes()[:60])
        return [media.image(0), TEXTS[0], bad, media.png_bytes(seed=2), TEXTS[1]], bad

    def test_skip_returns_rows_of_the_good_ones(self, colqwen, with_bad_file):
        items, bad = with_bad_file
        rows, failures = colqwen.encode_document(items, on_error="skip", return_failures=True)
        good = [item for i, item in enumerate(items) if i != 2]
        assert_same_tokens(rows, colqwen.encode_document(good))
        assert [f.index for f in failures] == [2]
        assert isinstance(failures[0].error, stm.DecodeError) and str(bad) in failures[0].source

    def test_raise_names_the_item(self, colqwen, with_bad_file):
        items, _ = with_bad_file
        with pytest.raises(stm.DecodeError, match="input 2"):
            colqwen.encode_query(items)

    def test_unsupported_modality(self, colqwen):
        with pytest.raises(stm.ModalityNotSupportedError, match="input 1"):
            colqwen.encode(["x", {"array": np.zeros(1600, np.float32), "sampling_rate": 16000}])


class TestCache:
    def test_second_call_is_served_from_the_cache(self, colqwen_path, tmp_path):
        model = stm.MultiVectorEncoder(colqwen_path, device="cpu", cache_dir=tmp_path)
        items = [media.png_bytes(seed=1), media.image(2, w=96, h=96)]
        first = model.encode_document(items)
        hits = model.embedding_cache.hits
        again = model.encode_document(items)
        assert model.embedding_cache.hits == hits + 2
        assert_same_tokens(again, first)
        query = model.encode_query(items)  # another task: other keys, other rows
        assert model.embedding_cache.hits == hits + 2 and len(query) == 2


class TestLoading:
    def test_load_picks_the_multi_vector_class(self, colqwen_path):
        assert stm.model_kind(colqwen_path) == "multi-vector"
        assert isinstance(stm.load(colqwen_path, device="cpu"), stm.MultiVectorEncoder)

    def test_modalities(self, colqwen):
        assert {"text", "image"} <= set(colqwen.modalities)
