"""``save_reference`` / ``self_check`` on the model classes, and the optional check right after loading."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

from .encoders import PAIR_SCORES, SENTENCE_EMBEDDINGS, ProbeEncoder
from .errors import EmbeddingDriftError, IncompatibleReferenceError, SelfCheckError, SelfCheckWarning
from .probes import PROBE_SET_VERSION
from .reference import REFERENCE_FILE_NAME, Reference, environment, find_shipped_reference
from .report import SelfCheckReport, check_compatible, compare, default_tolerance

__all__ = ["SelfCheckMixin", "OnDrift", "SelfCheckMode", "pop_self_check_kwarg"]

OnDrift = Literal["raise", "warn", "return"]
SelfCheckMode = Literal["warn", "raise"] | None


def pop_self_check_kwarg(kwargs: dict[str, Any]) -> SelfCheckMode:
    """Take the ``self_check`` constructor argument out of ``kwargs`` (None, "warn" or "raise")."""
    mode = kwargs.pop("self_check", None)
    if mode not in (None, "warn", "raise"):
        raise ValueError(f"self_check must be None, 'warn' or 'raise', got {mode!r}")
    return mode


class SelfCheckMixin:
    """Golden-vector self-check for a model class: encode built-in probes, store them, compare later.

    ``probe_encoder`` picks how probes become vectors; None means sentence embeddings, or pair scores
    for a ``CrossEncoder``. A multi-vector class sets ``probe_encoder = token_vectors_encoder()``.
    """

    probe_encoder: ClassVar[ProbeEncoder | None] = None

    def _probe_encoder(self) -> ProbeEncoder:
        if self.probe_encoder is not None:
            return self.probe_encoder
        from sentence_transformers import CrossEncoder

        return PAIR_SCORES if isinstance(self, CrossEncoder) else SENTENCE_EMBEDDINGS

    def _self_check_model_info(self) -> dict[str, Any]:
        parameter = next(self.parameters(), None)  # type: ignore[attr-defined]
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "fingerprint": self.fingerprint,  # type: ignore[attr-defined]
            "modalities": [m if isinstance(m, str) else "+".join(m) for m in self.modalities],  # type: ignore[attr-defined]
            "device": str(self.device),  # type: ignore[attr-defined]
            "dtype": str(parameter.dtype).replace("torch.", "") if parameter is not None else "unknown",
        }

    def save_reference(self, path: str | os.PathLike) -> Path:
        """Encode the built-in probes and write their vectors, with versions, device and dtype, to ``path``.

        ``path`` is a JSON file, or a folder (a model folder, say) to hold ``st_multimodal_reference.json``.
        Make references on a trusted machine, with the runtime whose outputs you consider correct.
        Returns the file written.
        """
        encoder = self._probe_encoder()
        outputs = tuple(encoder.run(self))
        failed = [f"{out.name} ({out.error})" for out in outputs if out.error is not None]
        if failed:
            raise SelfCheckError(f"cannot make a reference: the model failed on probe(s) {'; '.join(failed)}")
        reference = Reference(
            probe_set_version=PROBE_SET_VERSION,
            encoder=encoder.name,
            metric=encoder.metric,
            model=self._self_check_model_info(),
            environment=environment(),
            created=Reference.now(),
            outputs=outputs,
        )
        return reference.save(path)

    def self_check(
        self,
        path: str | os.PathLike | None = None,
        *,
        tolerance: float | None = None,
        on_drift: OnDrift = "raise",
    ) -> SelfCheckReport:
        """Re-encode the probes and compare them with the reference at ``path`` (default: the one shipped with the model).

        ``tolerance``: the minimum cosine per probe for embedders (default 0.999, or 0.99 when either
        side ran in bfloat16/float16), the maximum score difference relative to the score scale for
        rerankers (default 0.01, or 0.05). On drift, ``on_drift`` raises :class:`EmbeddingDriftError`,
        warns (:class:`SelfCheckWarning`) or just returns the report. A reference that cannot be
        compared (other probe set, other vector sizes) raises :class:`IncompatibleReferenceError`.
        """
        if on_drift not in ("raise", "warn", "return"):
            raise ValueError(f"on_drift must be 'raise', 'warn' or 'return', got {on_drift!r}")
        if path is None:
            path = self.shipped_reference()
            if path is None:
                raise IncompatibleReferenceError("no reference is shipped with this model: pass the path of one")
        start = time.perf_counter()
        reference = Reference.load(path)
        source = str(path)
        encoder = self._probe_encoder()
        check_compatible(reference, encoder.name, encoder.metric, source)
        outputs = encoder.run(self)
        model = self._self_check_model_info()
        if tolerance is None:
            tolerance = default_tolerance(encoder.metric, (reference.model.get("dtype", ""), model["dtype"]))
        report = compare(reference, outputs, tolerance=tolerance, source=source, environment=environment(),
                         model=model, seconds=time.perf_counter() - start)
        if not report.passed and on_drift == "raise":
            raise EmbeddingDriftError(report)
        if not report.passed and on_drift == "warn":
            warnings.warn(str(report), SelfCheckWarning, stacklevel=2)
        return report

    def shipped_reference(self) -> Path | None:
        """The reference file shipped with the model this was loaded from (its folder or hub repository), if any."""
        source = getattr(self, "_reference_source", None)
        return find_shipped_reference(source[0], **source[1]) if source is not None else None

    def _self_check_after_load(self, name_or_path: Any, mode: SelfCheckMode, load_kwargs: dict[str, Any]) -> None:
        """Remember where the model came from; with ``mode`` set, check the shipped reference now."""
        self._reference_source = (name_or_path, _hub_download_kwargs(load_kwargs))
        if mode is None:
            return
        try:
            reference = self.shipped_reference()
            if reference is None:
                raise IncompatibleReferenceError(
                    f"self_check={mode!r}, but {name_or_path!r} ships no {REFERENCE_FILE_NAME}")
            self.self_check(reference, on_drift="raise")
        except SelfCheckError as error:
            if mode == "raise":
                raise
            warnings.warn(f"self-check on load: {error}", SelfCheckWarning, stacklevel=3)


def _hub_download_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Upstream's loading arguments, as ``hf_hub_download`` names them."""
    names = {"revision": "revision", "token": "token", "cache_folder": "cache_dir", "local_files_only": "local_files_only"}
    return {names[k]: v for k, v in kwargs.items() if k in names and v is not None}
