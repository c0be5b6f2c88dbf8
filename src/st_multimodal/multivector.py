"""Drop-in ``MultiVectorEncoder`` (ColBERT / ColPali-style late interaction): upstream's class, with every input
resolved through the registry, mixed modalities batched correctly, per-item failures and the pipelined loop.

Each input becomes a ``[num_tokens, dim]`` tensor (padding and masked tokens dropped), exactly as upstream
returns it; score queries against documents with ``model.similarity`` or :func:`st_multimodal.maxsim`.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
import torch
from sentence_transformers import MultiVectorEncoder as _UpstreamMultiVectorEncoder
from sentence_transformers import __version__ as _upstream_version
from sentence_transformers.multi_vector_encoder import model as _upstream_module

from .errors import UnsupportedInputError
from .inference import MultimodalModelMixin, OnError, per_item_outputs
from .inference.cached import embed_rows
from .inference.options import CallOptions
from .policy import DecodeLimits, FetchPolicy
from .selfcheck.encoders import token_vectors_encoder

__all__ = ["MultiVectorEncoder", "is_multi_vector"]

_COMPOUNDING_WARNING = (
    "This model already includes token pooling in its pipeline. The additional "
    "`token_pooling` pools further on top of it (compounding)."
    if tuple(int(p) for p in _upstream_version.split(".")[:2]) >= (6, 3) else
    "This model already includes a token pooling in its pipeline: the per-call "
    "`token_pooling=` pools further on top of it (compounding). Omit it if you only "
    "want the model's built-in pooling."
)
"""Upstream's note (its wording changed in 6.3), logged once through upstream's own logger as upstream logs it."""


def is_multi_vector(model: Any) -> bool:
    """True for a multi-vector (late-interaction) model: one vector per token, scored with MaxSim."""
    return isinstance(model, _UpstreamMultiVectorEncoder)


class MultiVectorEncoder(MultimodalModelMixin, _UpstreamMultiVectorEncoder):
    """Upstream ``MultiVectorEncoder`` that accepts every input form (URLs, paths, bytes, PIL, arrays, video).

    Takes the same extra constructor arguments as :class:`~st_multimodal.SentenceTransformer`, and ``encode``,
    ``encode_query`` and ``encode_document`` take the same extra call arguments (``on_error``,
    ``return_failures``, ``fetch_policy``, ``limits``, ``strict``, ``use_cache``). Upstream's options keep
    their meaning: query / document prompts, ``task``, the model's ``MultiVectorMask`` (skiplist, kept
    token ids), ``normalize_embeddings``, ``token_pooling``, ``truncate_dim``, ``convert_to_numpy`` and
    ``output_value=None``. The self-check compares the mean of each probe's token vectors.
    """

    probe_encoder = token_vectors_encoder()

    def __init__(
        self,
        model_name_or_path: str | os.PathLike | None = None,
        *,
        modules: Any = None,
        device: str | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        use_kernels: bool = False,
        kernel_config: Any = None,
        model_card_data: Any = None,
        backend: Literal["torch", "onnx", "openvino"] = "torch",
        similarity_fn_name: str | Any | None = None,
        token_pooling: Any = None,
        truncate_dim: int | None = None,
        fetch_policy: FetchPolicy | None = None,
        limits: DecodeLimits | None = None,
        strict: bool = False,
        cache_dir: str | os.PathLike | None = None,
        decoded_cache_size: int = 256,
        resolve_workers: int | None = None,
        decode_workers: int | None = None,
        preprocess_workers: int = 2,
        prefetch_batches: int = 2,
        gpu_preprocessing: bool | None = None,
        dtype: str | torch.dtype | None = None,
        image_size: int | tuple[int, int] | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        self_check: Literal["warn", "raise"] | None = None,
    ) -> None:
        self._init_multimodal(_UpstreamMultiVectorEncoder, locals())

    def encode(
        self,
        inputs: Any,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: Literal["token_embeddings"] | None = "token_embeddings",
        convert_to_numpy: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        normalize_embeddings: bool = False,
        token_pooling: Any = None,
        truncate_dim: int | None = None,
        pool: dict[Literal["input", "output", "processes"], Any] | None = None,
        chunk_size: int | None = None,
        task: str | None = None,
        *,
        on_error: OnError = "raise",
        return_failures: bool = False,
        fetch_policy: FetchPolicy | None = None,
        limits: DecodeLimits | None = None,
        strict: bool | None = None,
        use_cache: bool = True,
        **kwargs: Any,
    ):
        """Upstream ``encode``, plus our per-call arguments (see :meth:`st_multimodal.SentenceTransformer.encode`)."""
        options = self.call_options(on_error, fetch_policy, limits, strict, use_cache)
        upstream = dict(prompt_name=prompt_name, prompt=prompt, batch_size=batch_size, show_progress_bar=show_progress_bar,
                        output_value=output_value, convert_to_numpy=convert_to_numpy, device=device,
                        normalize_embeddings=normalize_embeddings, token_pooling=token_pooling, pool=pool,
                        chunk_size=chunk_size, task=task, **kwargs)
        if truncate_dim is not None or _upstream_takes_truncate_dim():
            upstream["truncate_dim"] = truncate_dim  # upstream 6.2 has no truncate_dim: it refuses it as upstream does
        return self._call_upstream(super().encode, inputs, (), upstream, options, return_failures)

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
        truncate_dim: int | None = None,
        task: str | None,
        device: str | torch.device | None = None,
        call_options: CallOptions | None = None,
        **kwargs: Any,
    ) -> list[torch.Tensor] | list[dict[str, Any]]:
        device = self._resolve_inference_device(device)
        self.eval()
        _set_kernel_settings(self, token_pooling)
        raw = output_value is None

        def rows_of(out: dict, batch) -> list[Any]:
            if raw:
                return per_item_outputs(self._pooled(token_pooling, out, task, truncate_dim), len(batch))
            rows = _token_rows(out)
            return [row.cpu() for row in rows] if save_to_cpu else rows

        rows = embed_rows(
            self, inputs, options=self._options(call_options), batch_size=batch_size, device=device, prompt=prompt,
            kwargs={**kwargs, "task": task}, show_progress_bar=show_progress_bar, rows_of=rows_of, cacheable=not raw,
            to_cache=_row_to_cache, from_cache=_row_from_cache,
        )
        if raw:
            return rows
        target = torch.device("cpu") if save_to_cpu else device
        return self._finish_rows(rows, target, normalize_embeddings, token_pooling, truncate_dim, task)

    def _finish_rows(self, rows: list[torch.Tensor], target: torch.device, normalize: bool, token_pooling: Any,
                     truncate_dim: int | None, task: str | None) -> list[torch.Tensor]:
        """Upstream's per-row finishing: optional L2 normalisation per token, per-call token pooling, then truncation
        (with re-normalisation)."""
        rows = [row.to(target) for row in rows]
        if normalize:
            rows = [torch.nn.functional.normalize(row, p=2, dim=-1) for row in rows]
        if token_pooling is not None and rows:
            self._warn_compounding(token_pooling, task)
            rows = token_pooling.pool(rows, task=task)
        if truncate_dim is not None:
            rows = [_normalized(row[..., :truncate_dim]) for row in rows]
        return rows

    def _pooled(self, token_pooling: Any, out: dict, task: str | None, truncate_dim: int | None) -> dict:
        if token_pooling is not None:
            self._warn_compounding(token_pooling, task)
            out = token_pooling(out, task=task)
        if truncate_dim is not None:
            out = {**out, "token_embeddings": _normalized(out["token_embeddings"][..., :truncate_dim])}
        return out

    def _warn_compounding(self, token_pooling: Any, task: str | None) -> None:
        from sentence_transformers.multi_vector_encoder.modules import BaseTokenPooling

        if token_pooling.applies_to(task) and any(isinstance(module, BaseTokenPooling) for module in self):
            _upstream_module.logger.warning_once(_COMPOUNDING_WARNING)


def _upstream_takes_truncate_dim() -> bool:
    import inspect

    return "truncate_dim" in inspect.signature(_UpstreamMultiVectorEncoder.encode).parameters


def _set_kernel_settings(model: Any, token_pooling: Any) -> None:
    """What upstream (6.3+) does before hierarchical token pooling: hand it the model's kernel settings."""
    setter = getattr(token_pooling, "_set_kernel_settings", None)
    if setter is not None and hasattr(model, "_token_pooling_kernel_config"):
        setter(model.use_kernels, model._token_pooling_kernel_config)


def _normalized(embedding: torch.Tensor) -> torch.Tensor:
    """L2-normalised along the last axis, computed in float32 for half-precision inputs (as upstream does)."""
    dtype = embedding.dtype
    return torch.nn.functional.normalize(embedding.float() if dtype in (torch.float16, torch.bfloat16) else embedding, dim=-1).to(dtype)


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
