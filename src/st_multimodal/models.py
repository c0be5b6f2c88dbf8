"""Drop-in ``SentenceTransformer`` and ``CrossEncoder``: upstream's classes, with every input resolved
through the registry, mixed modalities batched correctly, per-item failures, and the pipelined loop."""

from __future__ import annotations

from typing import Any

import torch
from sentence_transformers import CrossEncoder as _UpstreamCrossEncoder
from sentence_transformers import SentenceTransformer as _UpstreamSentenceTransformer
from sentence_transformers.util import truncate_embeddings

from .errors import UnsupportedInputError, describe_source
from .inference import EncoderMixin, ItemInfo, MultimodalMixin, OnError, per_item_outputs, split_init_kwargs
from .loading import assemble_reranker_modules
from .model_class_check import check_model_class
from .model_fixes import apply_model_fixes
from .pipeline import Prepared
from .policy import DecodeLimits, FetchPolicy
from .resolvers import ExpandedInputs, expand_documents
from .selfcheck.mixin import SelfCheckMixin, pop_self_check_kwarg

__all__ = ["CrossEncoder", "SentenceTransformer"]


class SentenceTransformer(EncoderMixin, _UpstreamSentenceTransformer):
    """Upstream ``SentenceTransformer`` that accepts every input form (URLs, paths, bytes, PIL, arrays, audio, video).

    Extra constructor arguments: ``fetch_policy``, ``limits``, ``strict``, ``cache_dir`` (persistent
    embedding cache), ``dtype`` ("auto", "float32", "bfloat16", ...), ``image_size`` / ``min_pixels`` /
    ``max_pixels``, and the pipeline knobs ``resolve_workers`` (concurrent remote fetches; default: the fetch
    policy's ``max_concurrency``), ``decode_workers`` (concurrent decodes, local files are also read there;
    default the CPU count), ``preprocess_workers`` (batches preprocessed at once; default 2),
    ``prefetch_batches`` and ``gpu_preprocessing`` (None: resize images on the GPU when the processor
    supports it). ``self_check="warn"`` or ``"raise"`` checks the reference shipped with
    the model (``st_multimodal_reference.json``) right after loading; see ``save_reference`` / ``self_check``.
    """

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
        **kwargs: Any,
    ):
        device = self._resolve_inference_device(device)
        self.eval()
        ordered = self._embed_rows(
            inputs, batch_size=batch_size, device=device, prompt=prompt, kwargs=kwargs, show_progress_bar=show_progress_bar,
            rows_of=lambda out, batch: self._rows(out, len(batch), output_value),
            cacheable=output_value == "sentence_embedding",
            to_cache=lambda row: row.float().cpu().numpy(), from_cache=torch.from_numpy,
        )
        if output_value != "sentence_embedding":
            return ordered
        return self._finish_embeddings(ordered, device, save_to_cpu, normalize_embeddings, truncate_dim)

    def _rows(self, out: dict, n: int, output_value: str | None) -> list[Any]:
        """Per-item rows from one forward pass (raw sentence embeddings; finishing happens once at the end)."""
        if output_value == "sentence_embedding":
            return list(out["sentence_embedding"])
        if output_value == "token_embeddings":
            if "token_embeddings" not in out:
                raise UnsupportedInputError(f"this model produces no token embeddings (outputs: {sorted(out)})")
            return [emb[mask.bool()] for emb, mask in zip(out["token_embeddings"], out["attention_mask"])]
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


class CrossEncoder(SelfCheckMixin, MultimodalMixin, _UpstreamCrossEncoder):
    """Upstream ``CrossEncoder`` that scores pairs of any supported modalities, with per-item failures.

    Takes the same extra constructor arguments as :class:`SentenceTransformer`. A generative VLM folder
    without Sentence Transformers files is assembled as Transformer(any-to-any) + LogitScore("yes", "no").
    A PDF on the document side of a pair is scored page by page (one pair, and one score, per page).
    """

    _pair_inputs = True

    def __init__(self, *args: Any, **kwargs: Any):
        self_check = pop_self_check_kwarg(kwargs)  # self-check (selfcheck/mixin.py)
        ours, upstream = split_init_kwargs(kwargs)
        path = args[0] if args else upstream.get("model_name_or_path")
        check_model_class(type(self), path, upstream)  # an embedder folder raises WrongModelClassError here
        if isinstance(path, str) and upstream.get("modules") is None:
            modules = assemble_reranker_modules(
                path, model_kwargs=upstream.get("model_kwargs"), processor_kwargs=upstream.get("processor_kwargs")
            )
            if modules is not None:
                args, upstream = args[1:], {k: v for k, v in upstream.items() if k not in ("model_name_or_path", "model_kwargs", "processor_kwargs")}
                upstream["modules"] = modules
        super().__init__(*args, **upstream)
        self._setup_multimodal(**ours)
        apply_model_fixes(self)
        self._self_check_after_load(path, self_check, upstream)

    def predict(
        self,
        inputs: Any,
        *args: Any,
        on_error: OnError = "raise",
        return_failures: bool = False,
        fetch_policy: FetchPolicy | None = None,
        limits: DecodeLimits | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ):
        """Upstream ``predict``, plus ``on_error``, ``return_failures`` and per-call policies (see ``SentenceTransformer.encode``)."""
        return self._call_upstream(super().predict, inputs, args, kwargs, on_error=on_error, return_failures=return_failures,
                                   fetch_policy=fetch_policy, limits=limits, strict=strict, use_cache=True)

    def rank(
        self,
        query: Any,
        documents: list[Any],
        top_k: int | None = None,
        return_documents: bool = False,
        *,
        on_error: OnError = "raise",
        return_failures: bool = False,
        fetch_policy: FetchPolicy | None = None,
        limits: DecodeLimits | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ):
        """Upstream ``rank``; with ``on_error="skip"`` failed documents are left out (see ``return_failures``).

        A PDF document is scored page by page: one result per page, with ``"page"`` next to its ``corpus_id``.
        """
        documents = list(documents)
        expanded = expand_documents(documents, self.resolve_context(fetch_policy, limits, strict), on_error=on_error)
        pairs = ExpandedInputs([(query, doc) for doc in expanded], expanded.origins, expanded.pages, expanded.failures, len(documents))
        scores, failures = self.predict(  # failures come back at the documents' positions
            pairs, convert_to_tensor=True, on_error=on_error, return_failures=True,
            fetch_policy=fetch_policy, limits=limits, strict=strict, **kwargs,
        )
        results = [{"corpus_id": i, "score": float(s), **({} if page is None else {"page": page})}
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
        activation_fn,
        apply_softmax: bool | None,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        device = self._resolve_inference_device(device)
        self.eval()
        ctx = self._current_options().ctx
        pre_resize = self._image_pre_resizer(device, kwargs)

        def resolve_item(index: int, pair: Any) -> Prepared:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise UnsupportedInputError("a CrossEncoder input must be a pair (query, document)", index=index, source=describe_source(pair))
            sides = [self._resolve_for_model(side, ctx, index) for side in pair]

            def decode() -> Prepared:
                values = tuple(self._materialize(side, ctx, index, pre_resize) for side in sides)
                return Prepared(key=tuple(s.modality for s in sides), value=values, extra=ItemInfo(sides[1].provenance.source, None))

            return Prepared(then=decode)

        def rows_of(out: dict, batch) -> list[torch.Tensor]:
            return list(self._scores(out["scores"], activation_fn, apply_softmax))

        rows = {row.index: row.value for row in self._run(
            enumerate(inputs), batch_size=batch_size, device=device, prompt=prompt, kwargs=kwargs, resolve_item=resolve_item,
            rows_of=rows_of, show_progress_bar=show_progress_bar, total=len(inputs))}
        ordered = [rows[i] for i in sorted(rows)]
        return torch.stack(ordered) if ordered else torch.tensor([], device=device)

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
