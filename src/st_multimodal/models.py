"""Drop-in ``SentenceTransformer`` and ``CrossEncoder``: upstream's classes, with every input resolved
through the registry, mixed modalities batched correctly, per-item failures, and the pipelined loop.

Overrides name every argument of upstream's method (same order and defaults) and pass each one on;
our own arguments are keyword-only (``tests/conformance/test_signatures.py`` checks this against the
installed upstream).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal

import torch
from sentence_transformers import CrossEncoder as _UpstreamCrossEncoder
from sentence_transformers import SentenceTransformer as _UpstreamSentenceTransformer
from sentence_transformers.util import truncate_embeddings
from sentence_transformers.util.decorators import cross_encoder_predict_rank_args_decorator

from .errors import UnsupportedInputError, describe_source
from .inference import ItemInfo, MultimodalModelMixin, OnError, per_item_outputs
from .inference.cached import embed_rows
from .inference.options import CallOptions
from .loading import assemble_reranker_modules
from .pipeline import Prepared
from .policy import DecodeLimits, FetchPolicy
from .resolvers import ExpandedInputs, expand_documents
from .upstream import upstream_pair, upstream_pair_batch

__all__ = ["CrossEncoder", "SentenceTransformer"]


class SentenceTransformer(MultimodalModelMixin, _UpstreamSentenceTransformer):
    """Upstream ``SentenceTransformer`` that accepts every input form (URLs, paths, bytes, PIL, arrays, audio, video).

    Extra constructor arguments: ``fetch_policy``, ``limits``, ``strict``, ``cache_dir`` (persistent
    embedding cache), ``dtype`` (None: upstream's choice; "auto", "float32", "bfloat16", ...),
    ``image_size`` / ``min_pixels`` / ``max_pixels``, and the pipeline knobs ``resolve_workers``
    (concurrent remote fetches; default: the fetch policy's ``max_concurrency``), ``decode_workers``
    (concurrent decodes, local files are also read there; default the CPU count), ``preprocess_workers``
    (batches preprocessed at once; default 2), ``prefetch_batches`` and ``gpu_preprocessing`` (None:
    resize images on the GPU when the processor supports it). ``self_check="warn"`` or ``"raise"``
    checks the reference shipped with the model (``st_multimodal_reference.json``) right after loading;
    see ``save_reference`` / ``self_check``.
    """

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
        use_auth_token: bool | str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        use_kernels: bool = False,
        kernel_config: Any = None,
        model_card_data: Any = None,
        backend: Literal["torch", "onnx", "openvino"] = "torch",
        similarity_fn_name: str | Any | None = None,
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
        self._init_multimodal(_UpstreamSentenceTransformer, locals())

    def encode(
        self,
        inputs: Any,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: Literal["sentence_embedding", "token_embeddings"] | None = "sentence_embedding",
        precision: Literal["float32", "int8", "uint8", "binary", "ubinary"] = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | list[str | torch.device] | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: dict[Literal["input", "output", "processes"], Any] | None = None,
        chunk_size: int | None = None,
        *,
        on_error: OnError = "raise",
        return_failures: bool = False,
        fetch_policy: FetchPolicy | None = None,
        limits: DecodeLimits | None = None,
        strict: bool | None = None,
        use_cache: bool = True,
        **kwargs: Any,
    ):
        """Upstream ``encode``, plus: ``on_error="skip"`` keeps going past bad items (rows of the good ones,
        in input order); ``return_failures=True`` returns ``(embeddings, failures)``; per-call
        ``fetch_policy`` / ``limits`` / ``strict``; ``use_cache=False`` bypasses the embedding cache."""
        options = self.call_options(on_error, fetch_policy, limits, strict, use_cache)
        upstream = dict(prompt_name=prompt_name, prompt=prompt, batch_size=batch_size, show_progress_bar=show_progress_bar,
                        output_value=output_value, precision=precision, convert_to_numpy=convert_to_numpy,
                        convert_to_tensor=convert_to_tensor, device=device, normalize_embeddings=normalize_embeddings,
                        truncate_dim=truncate_dim, pool=pool, chunk_size=chunk_size, **kwargs)
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
        truncate_dim: int | None,
        device: str | torch.device | None = None,
        call_options: CallOptions | None = None,
        **kwargs: Any,
    ):
        device = self._resolve_inference_device(device)
        self.eval()
        ordered = embed_rows(
            self, inputs, options=self._options(call_options), batch_size=batch_size, device=device, prompt=prompt,
            kwargs=kwargs, show_progress_bar=show_progress_bar,
            rows_of=lambda out, batch: self._rows(out, len(batch), output_value, truncate_dim),
            cacheable=output_value == "sentence_embedding",
            to_cache=lambda row: row.float().cpu().numpy(), from_cache=torch.from_numpy,
        )
        if output_value != "sentence_embedding":
            return ordered
        return self._finish_embeddings(ordered, device, save_to_cpu, normalize_embeddings, truncate_dim)

    def _rows(self, out: dict, n: int, output_value: str | None, truncate_dim: int | None) -> list[Any]:
        """Per-item rows from one forward pass (raw sentence embeddings; finishing happens once at the end)."""
        if output_value == "sentence_embedding":
            return list(out["sentence_embedding"])
        if output_value == "token_embeddings":
            if "token_embeddings" not in out:
                raise UnsupportedInputError(f"this model produces no token embeddings (outputs: {sorted(out)})")
            return [emb[mask.bool()] for emb, mask in zip(out["token_embeddings"], out["attention_mask"])]
        if truncate_dim is not None and "sentence_embedding" in out:  # upstream truncates before splitting
            out = {**out, "sentence_embedding": truncate_embeddings(out["sentence_embedding"], truncate_dim)}
        return per_item_outputs(out, n)

    @staticmethod
    def _finish_embeddings(rows: list[torch.Tensor], device, save_to_cpu: bool, normalize: bool, truncate_dim: int | None):
        if not rows:
            return torch.tensor([], device="cpu" if save_to_cpu else device)
        target = torch.device("cpu") if save_to_cpu else device
        stacked = torch.stack([r.to(target) for r in rows])
        if truncate_dim is not None:
            stacked = truncate_embeddings(stacked, truncate_dim)
        if normalize:
            stacked = torch.nn.functional.normalize(stacked, p=2, dim=1)
        return stacked


class CrossEncoder(MultimodalModelMixin, _UpstreamCrossEncoder):
    """Upstream ``CrossEncoder`` that scores pairs of any supported modalities, with per-item failures.

    Takes the same extra constructor arguments as :class:`SentenceTransformer`. A generative VLM folder
    without Sentence Transformers files is assembled as Transformer(any-to-any) + LogitScore("yes", "no").
    A PDF on the document side of a pair is scored page by page (one pair, and one score, per page).
    Pairs of two texts reach upstream as the pair of strings, exactly as upstream receives them.
    """

    _pair_inputs = True

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
        model_kwargs: dict | None = None,
        processor_kwargs: dict | None = None,
        config_kwargs: dict | None = None,
        use_kernels: bool = False,
        kernel_config: Any = None,
        model_card_data: Any = None,
        backend: Literal["torch", "onnx", "openvino"] = "torch",
        num_labels: int | None = None,
        max_length: int | None = None,
        activation_fn: Callable | None = None,
        keep_in_fp32_modules: list[str] | None = None,
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
        self._init_multimodal(_UpstreamCrossEncoder, locals())

    def _upstream_init_arguments(self, args: tuple, upstream: dict) -> tuple[tuple, dict]:
        """A generative (V)LM folder without Sentence Transformers files becomes Transformer + LogitScore modules."""
        path = args[0] if args else upstream.get("model_name_or_path")
        if isinstance(path, str) and upstream.get("modules") is None:
            modules = assemble_reranker_modules(
                path, model_kwargs=upstream.get("model_kwargs"), processor_kwargs=upstream.get("processor_kwargs")
            )
            if modules is not None:
                dropped = ("model_name_or_path", "model_kwargs", "processor_kwargs")
                args, upstream = args[1:], {k: v for k, v in upstream.items() if k not in dropped}
                upstream["modules"] = modules
        return args, upstream

    @cross_encoder_predict_rank_args_decorator
    def predict(
        self,
        inputs: Any,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Callable | None = None,
        apply_softmax: bool | None = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | list[str | torch.device] | None = None,
        pool: dict[Literal["input", "output", "processes"], Any] | None = None,
        chunk_size: int | None = None,
        *,
        on_error: OnError = "raise",
        return_failures: bool = False,
        fetch_policy: FetchPolicy | None = None,
        limits: DecodeLimits | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ):
        """Upstream ``predict``, plus ``on_error``, ``return_failures`` and per-call policies (see ``SentenceTransformer.encode``)."""
        options = self.call_options(on_error, fetch_policy, limits, strict)
        upstream = dict(prompt_name=prompt_name, prompt=prompt, batch_size=batch_size, show_progress_bar=show_progress_bar,
                        activation_fn=activation_fn, apply_softmax=apply_softmax, convert_to_numpy=convert_to_numpy,
                        convert_to_tensor=convert_to_tensor, device=device, pool=pool, chunk_size=chunk_size, **kwargs)
        return self._call_upstream(super().predict, inputs, (), upstream, options, return_failures)

    @cross_encoder_predict_rank_args_decorator
    def rank(
        self,
        query: Any,
        documents: list[Any],
        top_k: int | None = None,
        return_documents: bool = False,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Callable | None = None,
        device: str | list[str | torch.device] | None = None,
        pool: dict[Literal["input", "output", "processes"], Any] | None = None,
        chunk_size: int | None = None,
        *,
        on_error: OnError = "raise",
        return_failures: bool = False,
        fetch_policy: FetchPolicy | None = None,
        limits: DecodeLimits | None = None,
        strict: bool | None = None,
    ):
        """Upstream ``rank``; with ``on_error="skip"`` failed documents are left out (see ``return_failures``).

        A PDF document is scored page by page: one result per page, with ``"page"`` next to its ``corpus_id``.
        """
        if self.num_labels != 1:
            raise ValueError(
                "CrossEncoder.rank() only works for models with num_labels=1. "
                "Consider using CrossEncoder.predict() with input pairs instead."
            )
        documents = list(documents)
        expanded = expand_documents(documents, self.resolve_context(fetch_policy, limits, strict), on_error=on_error)
        pairs = ExpandedInputs([[query, doc] for doc in expanded], expanded.origins, expanded.pages, expanded.failures, len(documents))
        scores, failures = self.predict(  # failures come back at the documents' positions
            pairs, prompt_name=prompt_name, prompt=prompt, batch_size=batch_size, show_progress_bar=show_progress_bar,
            activation_fn=activation_fn, convert_to_tensor=True, device=device, pool=pool, chunk_size=chunk_size,
            on_error=on_error, return_failures=True, fetch_policy=fetch_policy, limits=limits, strict=strict,
        )
        results = [{"corpus_id": i, "score": s, **({} if page is None else {"page": page})}
                   for (i, page), s in zip(expanded.rows(failures), scores.tolist())]
        if return_documents:
            for result in results:
                result["text"] = documents[result["corpus_id"]]
        results = sorted(results, key=lambda r: r["score"], reverse=True)[:top_k]
        return (results, failures) if return_failures else results

    @torch.inference_mode()
    def _inference(
        self,
        inputs: list,
        *,
        prompt: str | None,
        batch_size: int,
        show_progress_bar: bool,
        activation_fn: Callable | None,
        apply_softmax: bool | None,
        device: str | torch.device | None = None,
        call_options: CallOptions | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        device = self._resolve_inference_device(device)
        self.eval()
        options = self._options(call_options)
        ctx = options.ctx
        resizers = self._pre_resizers(device, kwargs)
        supported = self.modalities

        def resolve_item(index: int, pair: Any) -> Prepared:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise UnsupportedInputError("a CrossEncoder input must be a pair (query, document)", index=index, source=describe_source(pair))
            sides = [self._resolve_for_model(side, ctx, index) for side in pair]

            def decode() -> Prepared:
                decoded = [self._decoded(side, ctx, index) for side in sides]
                modalities = tuple(side.modality for side in decoded)
                values = tuple(resizers.video(side.value, ctx.limits) if resizers.video is not None and side.modality == "video"
                               else side.value for side in decoded)
                value = upstream_pair(pair, modalities, values, supported)
                if resizers.image is not None and "image" in modalities:
                    value = tuple(resizers.image(v) if m == "image" else v for m, v in zip(modalities, value))
                return Prepared(key=modalities, value=value, extra=ItemInfo(sides[1].provenance.source, None))

            return Prepared(then=decode)

        def rows_of(out: dict, batch) -> list[torch.Tensor]:
            return list(self._scores(out["scores"], activation_fn, apply_softmax))

        rows = {row.index: row.value for row in self._run(
            enumerate(inputs), options=options, batch_size=batch_size, device=device, prompt=prompt, kwargs=kwargs,
            resolve_item=resolve_item, rows_of=rows_of, show_progress_bar=show_progress_bar, total=len(inputs))}
        ordered = [rows[i] for i in sorted(rows)]
        return torch.stack(ordered) if ordered else torch.tensor([], device=device)

    def _prepare_features(self, values: list[Any], device: torch.device, prompt: str | None, kwargs: dict) -> dict:
        """Preprocess a batch of pairs, with video and audio sides as upstream's pair path can read them
        (see :func:`~st_multimodal.upstream.upstream_pair_batch`)."""
        values, extra = upstream_pair_batch(values)
        if extra:
            processing = dict(kwargs.get("processing_kwargs") or {})
            for modality, options in extra.items():
                processing[modality] = {**(processing.get(modality) or {}), **options}
            kwargs = {**kwargs, "processing_kwargs": processing}
        return super()._prepare_features(values, device, prompt, kwargs)

    def _scores(self, scores: torch.Tensor, activation_fn, apply_softmax) -> torch.Tensor:
        """Upstream's score post-processing: upcast, activation, squeeze, optional softmax."""
        if torch.is_floating_point(scores) and torch.finfo(scores.dtype).bits < 32:
            scores = scores.float()
        if activation_fn is not None:
            scores = activation_fn(scores)
        if self.num_labels == 1 and scores.ndim > 1:
            scores = scores.squeeze(-1)
        if apply_softmax and scores.ndim > 1:
            scores = torch.nn.functional.softmax(scores, dim=1)
        return scores
