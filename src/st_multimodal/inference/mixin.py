"""What every model class shares: its multimodal settings, resolving through the registry, the pipelined loop."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import torch
from sentence_transformers.base.modules import Router
from tqdm.auto import tqdm

from ..errors import ModalityNotSupportedError, MultimodalInputError
from ..loading import model_init_kwargs
from ..pipeline import DecodedCache, EmbeddingCache, Pipeline, Prepared, Row, cache_key, model_fingerprint
from ..pipeline.device import features_to_device, floating_dtype, pin_features
from ..pipeline.fingerprint import state_token
from ..pipeline.preresize import ImagePreResizer
from ..pipeline.threads import ThreadMemory
from ..pipeline.video_preresize import VideoPreResizer
from ..policy import DEFAULT_DECODE_LIMITS, DEFAULT_FETCH_POLICY, DecodeLimits, FetchPolicy
from ..resolvers import ExpandedInputs, expand_documents, materialize_located, resolve
from ..resolvers.expansion import has_documents
from ..types import Failure, ResolveContext, Resolved
from ..upstream import upstream_value
from .inputs import at_input_positions, audio_settings, image_target_size, is_remote_input, materialize_inputs
from .options import CallOptions, OnError, handed_over, passing

__all__ = ["MULTIMODAL_DEFAULTS", "MultimodalMixin", "PreResizers", "split_init_kwargs"]

MULTIMODAL_DEFAULTS = dict(fetch_policy=None, limits=None, strict=False, cache_dir=None, decoded_cache_size=256,
                            resolve_workers=None, decode_workers=None, preprocess_workers=2, prefetch_batches=2,
                            gpu_preprocessing=None)
"""Our multimodal constructor arguments and their defaults (see ``MultimodalMixin._setup_multimodal``)."""
_MEDIA_MODALITIES = ("image", "audio", "video", "message")


class PreResizers(NamedTuple):
    """The processor's resizes to run ahead on the decode workers, per modality (None where not provably exact)."""

    image: Callable[[Any], Any] | None = None
    """Takes an image in upstream's form, see ``pipeline.preresize``."""
    video: Callable[[Any, DecodeLimits], Any] | None = None
    """Takes a decoded video and the call's limits, see ``pipeline.video_preresize``."""


def split_init_kwargs(kwargs: dict) -> tuple[dict, dict]:
    """(our constructor arguments with their defaults, upstream's arguments with ``dtype``/``image_size``... translated)."""
    ours = {k: kwargs.pop(k) for k in MULTIMODAL_DEFAULTS if k in kwargs}
    return {**MULTIMODAL_DEFAULTS, **ours}, model_init_kwargs(kwargs)


class MultimodalMixin:
    """Resolving, batching by modality and the pipelined loop, for SentenceTransformer and CrossEncoder."""

    _pair_inputs = False
    """True where each input is a (query, document) pair: a PDF on the document side expands into one pair per page."""

    def _setup_multimodal(
        self,
        *,
        fetch_policy: FetchPolicy | None,
        limits: DecodeLimits | None,
        strict: bool,
        cache_dir: str | os.PathLike | None,
        decoded_cache_size: int,
        resolve_workers: int | None,
        decode_workers: int | None,
        preprocess_workers: int,
        prefetch_batches: int,
        gpu_preprocessing: bool | None = None,
    ) -> None:
        self.fetch_policy = fetch_policy or DEFAULT_FETCH_POLICY
        self.decode_limits = limits or DEFAULT_DECODE_LIMITS
        self.strict = strict
        self.embedding_cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        self.decoded_cache = DecodedCache(decoded_cache_size)
        self.resolve_workers = resolve_workers
        self.decode_workers = decode_workers
        self.preprocess_workers = preprocess_workers
        self.prefetch_batches = prefetch_batches
        self.gpu_preprocessing = gpu_preprocessing
        self.thread_memory = ThreadMemory()
        """The forward-pass thread counts earlier calls chose (see ``pipeline.threads``)."""
        self._fingerprint: str | None = None
        self._fingerprint_token: Any = None

    # -- per-call options -------------------------------------------------------------------------------

    @property
    def text_only(self) -> bool:
        """True when the model takes no image, audio, video or message input: every string is then text, as upstream reads it."""
        return not any(modality in self.modalities for modality in _MEDIA_MODALITIES)

    def resolve_context(
        self, fetch_policy: FetchPolicy | None = None, limits: DecodeLimits | None = None, strict: bool | None = None
    ) -> ResolveContext:
        """The context inputs are resolved under: this model's policies, overridden per call.

        A text-only model resolves strictly (every string is text), as upstream's classes read strings for it.
        """
        processor = getattr(self, "processor", None)
        sampling_rate, window = audio_settings(processor)
        target = image_target_size(processor)
        return ResolveContext(
            fetch_policy=fetch_policy or self.fetch_policy,
            limits=limits or self.decode_limits,
            strict=(self.strict if strict is None else strict) or self.text_only,
            audio_sampling_rate=sampling_rate,
            audio_max_seconds=window,
            extras={"image_target_size": target} if target else {},
        )

    def call_options(self, on_error: OnError = "raise", fetch_policy: FetchPolicy | None = None,
                     limits: DecodeLimits | None = None, strict: bool | None = None, use_cache: bool = True) -> CallOptions:
        """The :class:`CallOptions` of a call with these arguments."""
        return CallOptions(ctx=self.resolve_context(fetch_policy, limits, strict), on_error=on_error, use_cache=use_cache)

    def _options(self, call_options: CallOptions | None) -> CallOptions:
        """The options of the call in progress: given explicitly, handed over by our ``encode``/``predict``, or the defaults."""
        return call_options or handed_over() or self.call_options()

    def _call_upstream(self, method: Callable, inputs: Any, args: tuple, kwargs: dict, options: CallOptions,
                       return_failures: bool) -> Any:
        """Run upstream's ``encode``/``predict`` with ``options`` handed to our ``_inference`` / ``_multi_process``."""
        inputs = materialize_inputs(inputs, self.is_singular_input)
        expanded = self._expand_documents(inputs, options)
        if expanded is not None:
            inputs = list(expanded)
        try:
            with passing(options):
                result = method(inputs, *args, **kwargs)
        except MultimodalInputError as exc:
            if expanded is not None and exc.index is not None and 0 <= exc.index < len(expanded.origins):
                exc.renumbered(expanded.origins[exc.index])  # the caller's position, not the page's
            raise
        if expanded is not None:
            options.failures = at_input_positions(expanded, options.failures)
        return (result, options.failures) if return_failures else result

    def _expand_documents(self, inputs: Any, options: CallOptions) -> ExpandedInputs | None:
        """PDF inputs replaced by their pages (None when there are none: the usual path stays as it was)."""
        if not isinstance(inputs, ExpandedInputs):
            items = [inputs] if self.is_singular_input(inputs) else inputs
            if not isinstance(items, Iterable) or not has_documents(items, options.ctx, self._pair_inputs):
                return None
            inputs = expand_documents(list(items), options.ctx, on_error=options.on_error, pairs=self._pair_inputs)
        if inputs.failures and options.on_error == "raise":
            raise inputs.failures[0].error
        return inputs

    @property
    def fingerprint(self) -> str:
        """Identifies the weights, modules and processor settings (part of every cache key).

        Recomputed when a cheap check (:func:`~st_multimodal.pipeline.fingerprint.state_token`) sees a
        weight changed in place (an optimizer step, ``load_state_dict``), replaced, or moved, or the
        processor's settings changed since it was last computed.
        """
        token = state_token(self)
        if self._fingerprint is None or token != self._fingerprint_token:
            self._fingerprint, self._fingerprint_token = model_fingerprint(self), token
        return self._fingerprint

    # -- resolving ----------------------------------------------------------------------------------------

    def _resolve_for_model(self, raw: Any, ctx: ResolveContext, index: int) -> Resolved:
        """Resolve (without decoding yet) and check the model takes the modality."""
        return self._check_supported(resolve(raw, ctx, index, materialize=False), index)

    def _check_supported(self, resolved: Resolved, index: int) -> Resolved:
        if not self.supports(resolved.modality):
            modality = "+".join(resolved.modality) if isinstance(resolved.modality, tuple) else resolved.modality
            raise ModalityNotSupportedError(
                f"this model does not accept {modality} inputs; it accepts: {', '.join(map(str, self.modalities))}",
                index=index,
                source=resolved.provenance.source,
            )
        return resolved

    def _decoded(self, resolved: Resolved, ctx: ResolveContext, index: int, keep: bool = True) -> Resolved:
        """``resolved`` decoded, through the in-memory LRU of decoded inputs (stored there unless ``keep`` is
        false); the modality is checked again only when decoding changed it (a video file that turned out to
        carry audio, say)."""
        if resolved.is_materialized:
            return resolved
        checked = resolved.modality
        content_hash = resolved.provenance.content_hash
        key = _decoded_key(content_hash, ctx) if content_hash else None
        cached = self.decoded_cache.get(key) if key else None
        if cached is None:
            materialize_located(resolved, index, prefer_tensor=True)  # images straight to upstream's tensor form
            if key and keep:
                self.decoded_cache.put(key, (resolved.modality, resolved.value))
        else:
            resolved.modality, resolved.value = cached
            resolved.loader = None
        return self._check_supported(resolved, index) if resolved.modality != checked else resolved

    def _materialize(self, resolved: Resolved, ctx: ResolveContext, index: int,
                     pre_resize: PreResizers | None = None) -> tuple[Any, int | None]:
        """Decode and return the value as handed to upstream (images and videos resized ahead by ``pre_resize``,
        see :meth:`_pre_resizers`), and, for a resized one, its length as decoded (upstream orders a batch by it).

        Where a resize runs ahead, the decoded-input cache keeps the resized value (keyed by the resize's
        settings too), not the decoded one: a fraction of the memory, and a repeat skips the resize as well.
        """
        resizers = pre_resize or PreResizers()
        ready_key = self._ready_key(resolved, ctx, resizers)
        if ready_key is not None:
            hit = self.decoded_cache.get(ready_key)
            if hit is not None:
                resolved.modality, value, length = hit
                return value, length
        resolved = self._decoded(resolved, ctx, index, keep=ready_key is None)
        handed = self._handed_over(resolved, ctx, resizers)
        if ready_key is not None:
            self.decoded_cache.put(ready_key, (resolved.modality, *handed))
        return handed

    def _ready_key(self, resolved: Resolved, ctx: ResolveContext, resizers: PreResizers) -> str | None:
        """The decoded-input cache's key for ``resolved`` as handed over after a resize ahead, or None where no
        resize runs ahead for its modality (the decoded value is cached instead)."""
        resizer = {"image": resizers.image, "video": resizers.video}.get(resolved.modality)
        content_hash = resolved.provenance.content_hash
        token = getattr(resizer, "cache_token", None)
        if resolved.is_materialized or not content_hash or token is None:
            return None
        return f"{_decoded_key(content_hash, ctx)}:{token}"

    def _handed_over(self, resolved: Resolved, ctx: ResolveContext, resizers: PreResizers) -> tuple[Any, int | None]:
        if resolved.modality == "video" and resizers.video is not None:
            return upstream_value("video", resizers.video(resolved.value, ctx.limits), self.modalities), \
                self._input_length(resolved.value)
        value = upstream_value(resolved.modality, resolved.value, self.modalities)
        if resolved.modality != "image" or resizers.image is None:
            return value, None
        return resizers.image(value), self._input_length(value)

    def _pre_resizers(self, device: torch.device, kwargs: dict) -> PreResizers:
        """The processor's resizes to run on the decode workers for this call, where they are exact."""
        return PreResizers(image=self._image_pre_resizer(device, kwargs), video=self._video_pre_resizer(kwargs))

    def _image_pre_resizer(self, device: torch.device, kwargs: dict) -> Callable[[Any], Any] | None:
        """The processor's image resize, to run on the decode workers where it is exact (see ``pipeline.preresize``).

        Not when images are resized on the GPU, nor where the call or the model passes image processor options.
        """
        if self._preprocess_on_device(device) or self._has_processor_options("image", kwargs):
            return None
        return ImagePreResizer.for_processor(getattr(self, "processor", None))

    def _video_pre_resizer(self, kwargs: dict) -> VideoPreResizer | None:
        """The processor's video resize, to run on the decode workers where it is exact (see
        ``pipeline.video_preresize``). Not where the call or the model passes video processor options."""
        if self._has_processor_options("video", kwargs):
            return None
        return VideoPreResizer.for_processor(getattr(self, "processor", None))

    def _has_processor_options(self, modality: str, kwargs: dict) -> bool:
        """Whether the call passes processor options, or the input module's own ``processing_kwargs`` (which
        upstream merges into every call) has any for ``modality`` or for all modalities (``"common"``)."""
        if kwargs.get("processing_kwargs"):
            return True
        module = self[0] if len(self) > 0 else None
        own = getattr(module, "processing_kwargs", None) or {}
        return bool(isinstance(own, dict) and (own.get(modality) or own.get("common")))

    @property
    def _routed(self) -> bool:
        """True for a model whose input module is a ``Router`` (which also takes legacy task-keyed dicts)."""
        return len(self) > 0 and isinstance(self[0], Router)

    # -- the loop -----------------------------------------------------------------------------------------

    def _pipeline(self, batch_size: int, options: CallOptions) -> Pipeline:
        return Pipeline(
            batch_size=batch_size,
            length_of=self._input_length,
            remote_workers=self.resolve_workers or options.ctx.fetch_policy.max_concurrency,
            is_remote=is_remote_input,
            decode_workers=self.decode_workers,
            preprocess_workers=self.preprocess_workers,
            prefetch_batches=self.prefetch_batches,
            thread_memory=getattr(self, "thread_memory", None),
        )

    def _prepare_features(self, values: list[Any], device: torch.device, prompt: str | None, kwargs: dict) -> dict:
        if self._preprocess_on_device(device):
            kwargs = _with_image_device(kwargs, device)
        features = self.preprocess(values, prompt=prompt, **kwargs)
        return pin_features(features) if device.type == "cuda" else features

    def _preprocess_on_device(self, device: torch.device) -> bool:
        """Resize/normalise images on the GPU when the image processor is a torchvision (fast) one.

        Automatic on CUDA (``gpu_preprocessing=None``); ``True``/``False`` forces it on or off.
        """
        if device.type != "cuda" or self.gpu_preprocessing is False:
            return False
        image_processor = getattr(getattr(self, "processor", None), "image_processor", None)
        return any(base.__name__ == "TorchvisionBackend" for base in type(image_processor).__mro__)

    def _run(
        self,
        entries: Iterable[tuple[int, Any]],
        *,
        options: CallOptions,
        batch_size: int,
        device: torch.device,
        prompt: str | None,
        kwargs: dict,
        resolve_item: Callable[[int, Any], Prepared],
        rows_of: Callable[[dict, Any], list[Any]],
        show_progress_bar: bool,
        total: int | None,
        done: int = 0,
    ) -> Iterator[Row]:
        """Yield rows (unordered) for every ``(position, input)`` that succeeded; record or raise failures per
        ``options.on_error``. ``total`` and ``done`` (inputs already answered, e.g. from the cache) drive the progress bar."""

        def prepare(batch):
            return self._prepare_features(batch.values, device, prompt, kwargs)

        def forward(batch, features):
            features = features_to_device(features, device, floating_dtype(self))
            out = self(features, **kwargs)
            return rows_of(out, batch)

        events = self._pipeline(batch_size, options).run(entries, resolve=resolve_item, prepare=prepare, forward=forward)
        try:
            with tqdm(total=total, initial=done, desc="Inputs", disable=not show_progress_bar) as bar:
                for event in events:
                    bar.update(1)
                    if isinstance(event, Failure):
                        if options.on_error == "raise":
                            raise event.error
                        options.failures.append(event)
                        continue
                    yield event
        finally:
            events.close()  # stop the pipeline here, not wherever the garbage collector happens to run


def _with_image_device(kwargs: dict, device: torch.device) -> dict:
    processing = dict(kwargs.get("processing_kwargs") or {})
    processing["image"] = {"device": str(device), **(processing.get("image") or {})}
    return {**kwargs, "processing_kwargs": processing}


def _decoded_key(content_hash: str, ctx: ResolveContext) -> str:
    """The decoded-input cache's key for content decoded under ``ctx``'s settings."""
    return f"{content_hash}:{_decode_settings_key(ctx)}"


def _decode_settings_key(ctx: ResolveContext) -> str:
    """What else decides a decoded value besides its bytes (limits, audio settings), as a short key."""
    settings = (ctx.limits, ctx.audio_sampling_rate, ctx.audio_max_seconds)
    try:
        return _settings_key(settings)
    except TypeError:  # unhashable settings (a subclass with list fields, say): no memo
        return cache_key(*settings)


@functools.lru_cache(maxsize=64)
def _settings_key(settings: tuple) -> str:
    return cache_key(*settings)
