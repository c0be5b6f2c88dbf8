"""Drop-in ``MultiVectorEncoder`` (ColBERT / ColPali-style late interaction): upstream's class, with every input
resolved through the registry, mixed modalities batched correctly, per-item failures and the pipelined loop.

Each input becomes a ``[num_tokens, dim]`` tensor (padding and masked tokens dropped), exactly as upstream
returns it; score queries against documents with ``model.similarity`` or :func:`st_multimodal.maxsim`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from sentence_transformers import MultiVectorEncoder as _UpstreamMultiVectorEncoder

from .errors import UnsupportedInputError
from .inference import EncoderMixin, per_item_outputs
from .selfcheck.encoders import token_vectors_encoder

__all__ = ["MultiVectorEncoder", "is_multi_vector"]

logger = logging.getLogger(__name__)


def is_multi_vector(model: Any) -> bool:
    """True for a multi-vector (late-interaction) model: one vector per token, scored with MaxSim."""
    return isinstance(model, _UpstreamMultiVectorEncoder)


class MultiVectorEncoder(EncoderMixin, _UpstreamMultiVectorEncoder):
    """Upstream ``MultiVectorEncoder`` that accepts every input form (URLs, paths, bytes, PIL, arrays, video).

    Takes the same extra constructor arguments as :class:`~st_multimodal.SentenceTransformer`, and ``encode``,
    ``encode_query`` and ``encode_document`` take the same extra call arguments (``on_error``,
    ``return_failures``, ``fetch_policy``, ``limits``, ``strict``, ``use_cache``). Upstream's options keep
    their meaning: query / document prompts, ``task``, the model's ``MultiVectorMask`` (skiplist, kept
    token ids), ``normalize_embeddings``, ``token_pooling``, ``convert_to_numpy`` and ``output_value=None``.
    The self-check compares the mean of each probe's token vectors.
    """

    probe_encoder = token_vectors_encoder()

    @torch.inference_mode()
    def _inference(
        self,
        inputs: list,
        *,
        prompt: str | None,
        batch_size: int,
        show_progress_bar: bool,
        output_value: str | None,
        save_to_cpu: bool,
        normalize_embeddings: bool,
        token_pooling: Any,
        task: str | None,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> list[torch.Tensor] | list[dict[str, Any]]:
        device = self._resolve_inference_device(device)
        self.eval()
        raw = output_value is None

        def rows_of(out: dict, batch) -> list[Any]:
            if raw:
                return per_item_outputs(self._pooled(token_pooling, out, task), len(batch))
            rows = _token_rows(out)
            return [row.cpu() for row in rows] if save_to_cpu else rows

        rows = self._embed_rows(
            inputs, batch_size=batch_size, device=device, prompt=prompt, kwargs={**kwargs, "task": task},
            show_progress_bar=show_progress_bar, rows_of=rows_of, cacheable=not raw,
            to_cache=_row_to_cache, from_cache=_row_from_cache,
        )
        if raw:
            return rows
        return self._finish_rows(rows, torch.device("cpu") if save_to_cpu else device, normalize_embeddings, token_pooling, task)

    def _finish_rows(self, rows: list[torch.Tensor], target: torch.device, normalize: bool, token_pooling: Any,
                     task: str | None) -> list[torch.Tensor]:
        """Upstream's per-row finishing: optional L2 normalisation per token, then per-call token pooling."""
        rows = [row.to(target) for row in rows]
        if normalize:
            rows = [torch.nn.functional.normalize(row, p=2, dim=-1) for row in rows]
        if token_pooling is not None and rows:
            self._warn_compounding(token_pooling, task)
            rows = token_pooling.pool(rows, task=task)
        return rows

    def _pooled(self, token_pooling: Any, out: dict, task: str | None) -> dict:
        if token_pooling is None:
            return out
        self._warn_compounding(token_pooling, task)
        return token_pooling(out, task=task)

    def _warn_compounding(self, token_pooling: Any, task: str | None) -> None:
        from sentence_transformers.multi_vector_encoder.modules import BaseTokenPooling

        if getattr(self, "_warned_compounding", False) or not token_pooling.applies_to(task):
            return
        if any(isinstance(module, BaseTokenPooling) for module in self):
            self._warned_compounding = True
            logger.warning("this model already pools tokens in its pipeline: the per-call token_pooling pools further")


def _token_rows(out: dict) -> list[torch.Tensor]:
    """Each item's token vectors under the scoring mask (``MultiVectorMask`` rewrites ``attention_mask``)."""
    if "token_embeddings" not in out:
        raise UnsupportedInputError(f"this model produces no token embeddings (outputs: {sorted(out)})")
    return [emb[mask.bool()] for emb, mask in zip(out["token_embeddings"], out["attention_mask"])]


def _row_to_cache(row: torch.Tensor) -> np.ndarray:
    """A ``[n, d]`` row as one flat float32 array that carries its width: ``[d, *values]``."""
    values = row.float().cpu().numpy()
    return np.concatenate([np.array([values.shape[1]], np.float32), values.ravel()])


def _row_from_cache(stored: np.ndarray) -> torch.Tensor:
    width = int(stored[0])
    return torch.from_numpy(np.ascontiguousarray(stored[1:]).reshape(-1, width))
