"""maxsim and TokenVectors: equal to upstream's MaxSim on ragged, empty and half-precision inputs, in any chunking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers.util.similarity import maxsim as upstream_maxsim
from sentence_transformers.util.similarity import mean_maxsim as upstream_mean_maxsim

from st_multimodal import maxsim
from st_multimodal.retrieval.maxsim import EMPTY_DOCUMENT_SCORE, TokenVectors


def ragged(lengths, dim: int = 8, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.functional.normalize(torch.randn(n, dim, generator=generator), dim=-1) for n in lengths]


QUERIES = ragged([3, 7, 1], seed=1)
DOCUMENTS = ragged([5, 40, 2, 9, 1, 13], seed=2)


class TestMaxsim:
    def test_equals_upstream(self):
        ours = maxsim(QUERIES, DOCUMENTS)
        assert ours.shape == (3, 6) and ours.dtype == torch.float32
        torch.testing.assert_close(ours, upstream_maxsim(QUERIES, DOCUMENTS), atol=1e-5, rtol=1e-6)

    def test_equals_the_definition(self):
        expected = torch.tensor([[float((q @ d.T).max(dim=1).values.sum()) for d in DOCUMENTS] for q in QUERIES])
        torch.testing.assert_close(maxsim(QUERIES, DOCUMENTS), expected, atol=1e-5, rtol=1e-6)

    def test_mean_maxsim_equals_upstream(self):
        torch.testing.assert_close(maxsim(QUERIES, DOCUMENTS, length_normalize=True),
                                   upstream_mean_maxsim(QUERIES, DOCUMENTS), atol=1e-6, rtol=1e-6)

    @pytest.mark.parametrize("chunk_elements", [1, 200, 5_000])
    def test_chunking_changes_nothing(self, chunk_elements):
        torch.testing.assert_close(maxsim(QUERIES, DOCUMENTS, chunk_elements=chunk_elements), maxsim(QUERIES, DOCUMENTS),
                                   atol=1e-6, rtol=0)

    def test_empty_documents_score_last_like_upstream(self):
        documents = [DOCUMENTS[0], DOCUMENTS[0][:0], DOCUMENTS[1]]
        ours = maxsim(QUERIES, documents)
        assert (ours[:, 1] == EMPTY_DOCUMENT_SCORE).all()
        torch.testing.assert_close(ours, upstream_maxsim(QUERIES, documents), atol=1e-5, rtol=1e-6)

    def test_numpy_and_float16_inputs(self):
        arrays = [d.numpy().astype(np.float16) for d in DOCUMENTS]
        ours = maxsim([q.numpy() for q in QUERIES], arrays)
        torch.testing.assert_close(ours, upstream_maxsim(QUERIES, DOCUMENTS), atol=5e-3, rtol=0)
        assert ours.dtype == torch.float32

    def test_flat_token_vectors(self):
        flat = TokenVectors.from_rows(DOCUMENTS, dtype=np.float16)
        assert len(flat) == 6 and flat.dim == 8 and flat.lengths.tolist() == [5, 40, 2, 9, 1, 13]
        np.testing.assert_allclose(flat.row(3), DOCUMENTS[3].numpy(), atol=1e-3)
        torch.testing.assert_close(maxsim(QUERIES, flat), maxsim(QUERIES, [flat.row(i) for i in range(6)]))

    def test_single_matrices_are_one_item(self):
        assert maxsim(QUERIES[0], DOCUMENTS[0]).shape == (1, 1)
        torch.testing.assert_close(maxsim(QUERIES[0], DOCUMENTS[0])[0, 0], maxsim(QUERIES, DOCUMENTS)[0, 0])

    def test_empty_collections(self):
        assert maxsim([], DOCUMENTS).shape == (0, 6)
        assert maxsim(QUERIES, []).shape == (3, 0)

    def test_dimension_mismatch_is_refused(self):
        with pytest.raises(ValueError, match="8-dimensional"):
            maxsim(ragged([2], dim=4), DOCUMENTS)

    def test_rows_must_be_matrices(self):
        with pytest.raises(ValueError, match="row 1"):
            TokenVectors.from_rows([np.zeros((2, 8)), np.zeros(8)])
        with pytest.raises(ValueError, match="widths"):
            TokenVectors.from_rows([np.zeros((2, 8)), np.zeros((2, 4))])
