"""How a model turns the probes into named vectors: sentence embeddings, pair scores, pooled token vectors.

A :class:`ProbeEncoder` is the one extension point: a model class picks one through its
``probe_encoder`` class attribute (see :class:`~st_multimodal.selfcheck.SelfCheckMixin`). A
multi-vector model, for example, plugs in with ``probe_encoder = token_vectors_encoder()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..resolvers import as_text
from .probes import PROBE_TEXTS, Probe, content_sha256, embedding_probes, pair_probes

__all__ = ["Metric", "ProbeOutput", "ProbeEncoder", "SENTENCE_EMBEDDINGS", "PAIR_SCORES", "token_vectors_encoder"]

Metric = Literal["cosine", "score"]
"""``cosine``: outputs are embeddings, compared by angle. ``score``: outputs are scores, compared by absolute difference."""


@dataclass(frozen=True)
class ProbeOutput:
    """The model's output for one probe (or one group of probe pairs), as a float32 vector."""

    name: str
    modality: str
    sha256: str
    vector: np.ndarray
    error: str | None = None
    """Set (and ``vector`` empty) when the model raised on this probe."""

    @classmethod
    def failed(cls, name: str, modality: str, sha256: str, error: BaseException) -> "ProbeOutput":
        return cls(name, modality, sha256, np.zeros(0, np.float32), f"{type(error).__name__}: {error}")


@dataclass(frozen=True)
class ProbeEncoder:
    """A named way to run the probes through a model; ``name`` and ``metric`` are stored in the reference."""

    name: str
    metric: Metric
    run: Callable[[Any], list[ProbeOutput]]


def _as_vectors(rows: Any) -> list[np.ndarray]:
    return [np.asarray(row, dtype=np.float32).reshape(-1) for row in rows]


def _prompt_probes(model: Any) -> list[tuple[str, Probe]]:
    """(prompt name, probe) for every non-empty prompt the model defines: template and prompt drift shows here."""
    name, text = PROBE_TEXTS[0]
    prompts = getattr(model, "prompts", None) or {}
    return [
        (prompt_name, Probe(f"{name}@prompt:{prompt_name}", "text", as_text(text), content_sha256(text, prompt)))
        for prompt_name, prompt in sorted(prompts.items())
        if prompt
    ]


def _run_isolated(probes: list[Probe], run: Callable[[list[Any]], Any]) -> list[ProbeOutput]:
    """``run`` on all probe values at once; if it raises, on each alone, so one failing probe is named, not fatal."""
    if len(probes) > 1:
        try:
            vectors = _as_vectors(run([p.value for p in probes]))
            return [ProbeOutput(p.name, p.modality, p.sha256, v) for p, v in zip(probes, vectors)]
        except Exception:  # noqa: BLE001 - retried one by one below, where the error is recorded per probe
            pass
    return [_run_one(probe, run) for probe in probes]


def _run_one(probe: Probe, run: Callable[[list[Any]], Any]) -> ProbeOutput:
    try:
        (vector,) = _as_vectors(run([probe.value]))
    except Exception as error:  # noqa: BLE001 - a model that fails on a probe has drifted; the report says how
        return ProbeOutput.failed(probe.name, probe.modality, probe.sha256, error)
    return ProbeOutput(probe.name, probe.modality, probe.sha256, vector)


def _encode_embeddings(model: Any, **encode_kwargs: Any) -> list[ProbeOutput]:
    """Each probe encoded alone (no padding effects), unnormalised, past every cache."""
    kwargs = dict(batch_size=1, convert_to_numpy=True, normalize_embeddings=False, show_progress_bar=False, **encode_kwargs)
    outputs = _run_isolated(embedding_probes(model), lambda values: model.encode(values, **kwargs))
    for prompt_name, probe in _prompt_probes(model):
        outputs += _run_isolated([probe], lambda values: model.encode(values, prompt_name=prompt_name, **kwargs))
    return outputs


def _score_pairs(model: Any) -> list[ProbeOutput]:
    """One vector of scores per group of probe pairs (see :func:`~st_multimodal.selfcheck.probes.pair_probes`)."""
    outputs = []
    for name, modality, pairs, sha256 in pair_probes(model):
        try:
            scores = model.predict(pairs, batch_size=1, convert_to_numpy=True, show_progress_bar=False)
        except Exception as error:  # noqa: BLE001 - recorded per group; the report names it
            outputs.append(ProbeOutput.failed(name, modality, sha256, error))
            continue
        outputs.append(ProbeOutput(name, modality, sha256, np.asarray(scores, dtype=np.float32).reshape(-1)))
    return outputs


SENTENCE_EMBEDDINGS = ProbeEncoder(
    "sentence-embedding", "cosine", lambda model: _encode_embeddings(model, use_cache=False)
)
"""Embedders: one embedding per probe (plus the first text under each of the model's prompts)."""

PAIR_SCORES = ProbeEncoder("pair-scores", "score", _score_pairs)
"""Rerankers: the scores of fixed (query, document) probe pairs, one vector per group."""


def token_vectors_encoder(name: str = "token-vectors-mean", **encode_kwargs: Any) -> ProbeEncoder:
    """For multi-vector models: encode each probe to a (tokens, dim) matrix and keep its mean over tokens.

    ``encode_kwargs`` go to ``model.encode`` (e.g. ``output_value="token_embeddings"`` for a
    :class:`~st_multimodal.SentenceTransformer`; a ``MultiVectorEncoder`` returns token vectors by
    default). Prompts are not probed: multi-vector models usually have none.
    """

    def run(model: Any) -> list[ProbeOutput]:
        kwargs = dict(batch_size=1, convert_to_numpy=True, show_progress_bar=False, **encode_kwargs)

        def mean_tokens(values: list[Any]) -> list[np.ndarray]:
            return [_token_matrix(tokens).mean(0) for tokens in model.encode(values, **kwargs)]

        return _run_isolated(embedding_probes(model), mean_tokens)

    return ProbeEncoder(name, "cosine", run)


def _token_matrix(tokens: Any) -> np.ndarray:
    """A (tokens, dim) float32 matrix from a tensor or an array."""
    if hasattr(tokens, "detach"):
        tokens = tokens.detach().float().cpu().numpy()
    matrix = np.asarray(tokens, dtype=np.float32)
    return matrix.reshape(-1, matrix.shape[-1])
