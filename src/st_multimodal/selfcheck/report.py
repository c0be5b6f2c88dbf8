"""Comparing fresh probe outputs with a reference, and the report that says what moved and what changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .encoders import ProbeOutput
from .errors import IncompatibleReferenceError
from .probes import PROBE_SET_VERSION
from .reference import Reference

__all__ = ["ProbeResult", "EnvironmentChange", "SelfCheckReport", "default_tolerance", "check_compatible", "compare"]

_HALF_PRECISION = ("bfloat16", "float16")


def default_tolerance(metric: str, dtypes: Sequence[str]) -> float:
    """The default tolerance for ``metric`` when the reference and the model ran in ``dtypes``.

    Cosine: at least 0.999 in float32 (kernel, batching and hardware noise stays above 0.9999; the
    changes worth catching, such as another image size, a template flag or a perturbed layer, fall
    well below 0.99), and 0.99 when either side ran in bfloat16 / float16, whose rounding alone costs
    0.995-0.999 on deep models. Scores: a difference of at most 1% (5% in half precision) of the
    larger of 1 and the reference's largest absolute score in the group.
    """
    half = any(dtype.replace("torch.", "") in _HALF_PRECISION for dtype in dtypes)
    if metric == "cosine":
        return 0.99 if half else 0.999
    return 0.05 if half else 0.01


@dataclass(frozen=True)
class ProbeResult:
    """One probe compared with its reference vector."""

    name: str
    modality: str
    cosine: float | None
    """None when the model gave no output for the probe."""
    max_abs_diff: float | None
    passed: bool
    note: str = ""
    """Why it failed beyond the numbers: a missing output, or probe input that differs from the reference's."""


@dataclass(frozen=True)
class EnvironmentChange:
    """A version, device or dtype that differs between the reference and now."""

    name: str
    reference: str
    current: str


@dataclass(frozen=True)
class SelfCheckReport:
    """The outcome of ``model.self_check``: per probe, per modality, and what changed in the environment."""

    reference_path: str
    created: str
    metric: str
    tolerance: float
    """Minimum cosine (``metric="cosine"``) or maximum relative score difference (``metric="score"``)."""
    probes: tuple[ProbeResult, ...]
    environment_changes: tuple[EnvironmentChange, ...]
    reference_fingerprint: str
    current_fingerprint: str
    seconds: float
    new_probes: tuple[str, ...] = ()
    """Probes this model answers that the reference does not hold (not compared)."""

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.probes)

    @property
    def failures(self) -> tuple[ProbeResult, ...]:
        return tuple(result for result in self.probes if not result.passed)

    @property
    def fingerprint_matches(self) -> bool:
        return self.reference_fingerprint == self.current_fingerprint

    def by_modality(self) -> dict[str, float | None]:
        """The lowest cosine per modality (None where a probe of that modality gave no output)."""
        lowest: dict[str, float | None] = {}
        for result in self.probes:
            seen = lowest.get(result.modality, 1.0)
            lowest[result.modality] = None if seen is None or result.cosine is None else min(seen, result.cosine)
        return lowest

    def _largest_diffs(self) -> dict[str, float | None]:
        largest: dict[str, float | None] = {}
        for result in self.probes:
            seen = largest.get(result.modality, 0.0)
            largest[result.modality] = None if seen is None or result.max_abs_diff is None else max(seen, result.max_abs_diff)
        return largest

    def __str__(self) -> str:
        verdict = "passed" if self.passed else f"FAILED ({len(self.failures)} of {len(self.probes)} probes drifted)"
        bound = f"cosine >= {self.tolerance:g}" if self.metric == "cosine" else f"|score diff| <= {self.tolerance:g} x scale"
        lines = [f"Self-check against {self.reference_path} (made {self.created}): {verdict}",
                 f"tolerance: {bound}; took {self.seconds:.2f} s", ""]
        width = max([len("probe")] + [len(r.name) for r in self.probes])
        lines.append(f"{'probe':<{width}}  {'modality':<10}  {'cosine':>10}  {'max |diff|':>10}  result")
        for r in self.probes:
            cosine = "-" if r.cosine is None else f"{r.cosine:.6f}"
            diff = "-" if r.max_abs_diff is None else f"{r.max_abs_diff:.3g}"
            lines.append(f"{r.name:<{width}}  {r.modality:<10}  {cosine:>10}  {diff:>10}  "
                         f"{'ok' if r.passed else 'DRIFT'}{f'  ({r.note})' if r.note else ''}")
        lines.append("")
        if self.metric == "cosine":
            per = ", ".join(f"{m} {'-' if c is None else f'{c:.6f}'}" for m, c in self.by_modality().items())
            lines.append(f"lowest cosine per modality: {per}")
        else:
            per = ", ".join(f"{m} {'-' if d is None else f'{d:.3g}'}" for m, d in self._largest_diffs().items())
            lines.append(f"largest score change per modality pair: {per}")
        if self.new_probes:
            lines.append(f"not in the reference (not compared): {', '.join(self.new_probes)}")
        fingerprint = "same" if self.fingerprint_matches else (
            f"differs ({self.reference_fingerprint[:12]} -> {self.current_fingerprint[:12]}): weights, modules, "
            "processor settings, device or dtype changed")
        lines.append(f"model fingerprint: {fingerprint}")
        changes = "; ".join(f"{c.name} {c.reference} -> {c.current}" for c in self.environment_changes)
        lines.append(f"environment changes: {changes or 'none'}")
        return "\n".join(lines)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    if norms == 0:
        return 1.0 if np.array_equal(a64, b64) else 0.0
    return float(np.dot(a64, b64) / norms)


def _compare_one(ref: ProbeOutput, now: ProbeOutput | None, metric: str, tolerance: float) -> ProbeResult:
    if now is None:
        return ProbeResult(ref.name, ref.modality, None, None, False, "the model gave no output for this probe")
    if now.error is not None:
        return ProbeResult(ref.name, ref.modality, None, None, False, f"the model failed on this probe: {now.error}")
    if now.vector.size != ref.vector.size:
        raise IncompatibleReferenceError(
            f"probe {ref.name!r}: the model gives {now.vector.size} values, the reference holds {ref.vector.size}; "
            "the reference was made with another model (or a truncate_dim / output setting)"
        )
    diff = float(np.abs(now.vector.astype(np.float64) - ref.vector).max()) if ref.vector.size else 0.0
    cosine = _cosine(now.vector, ref.vector)
    if metric == "cosine":
        passed = cosine >= tolerance and np.isfinite(now.vector).all()
    else:
        scale = max(1.0, float(np.abs(ref.vector).max())) if ref.vector.size else 1.0
        passed = diff <= tolerance * scale and np.isfinite(now.vector).all()
    note = "" if now.sha256 == ref.sha256 else "probe input differs from the reference's (prompt or sampling rate changed)"
    return ProbeResult(ref.name, ref.modality, cosine, diff, bool(passed), note)


def _environment_changes(reference: Reference, environment: dict[str, str], model: dict) -> tuple[EnvironmentChange, ...]:
    changes = []
    for key in sorted(set(reference.environment) | set(environment)):
        old, new = reference.environment.get(key, "unknown"), environment.get(key, "unknown")
        if old != new:
            changes.append(EnvironmentChange(key, old, new))
    for key in ("device", "dtype", "class"):
        old, new = str(reference.model.get(key, "unknown")), str(model.get(key, "unknown"))
        if old != new:
            changes.append(EnvironmentChange(key, old, new))
    return tuple(changes)


def check_compatible(reference: Reference, encoder: str, metric: str, source: str) -> None:
    """Refuse references that cannot be compared: another probe set or another kind of output."""
    if reference.probe_set_version != PROBE_SET_VERSION:
        raise IncompatibleReferenceError(
            f"{source} was made with probe set {reference.probe_set_version}, this version of st_multimodal has "
            f"probe set {PROBE_SET_VERSION}: make a new reference with model.save_reference() on a trusted machine"
        )
    if (reference.encoder, reference.metric) != (encoder, metric):
        raise IncompatibleReferenceError(
            f"{source} holds {reference.encoder!r} outputs ({reference.metric}); this model gives {encoder!r} ({metric}): "
            "was it made with another kind of model (embedder, reranker, multi-vector)?"
        )


def compare(reference: Reference, outputs: Sequence[ProbeOutput], *, tolerance: float, source: str,
            environment: dict[str, str], model: dict, seconds: float) -> SelfCheckReport:
    """Compare ``outputs`` with ``reference`` probe by probe (in the reference's order)."""
    current = {out.name: out for out in outputs}
    results = tuple(_compare_one(ref, current.get(ref.name), reference.metric, tolerance) for ref in reference.outputs)
    known = {ref.name for ref in reference.outputs}
    return SelfCheckReport(
        reference_path=source,
        created=reference.created,
        metric=reference.metric,
        tolerance=tolerance,
        probes=results,
        environment_changes=_environment_changes(reference, environment, model),
        reference_fingerprint=str(reference.model.get("fingerprint", "")),
        current_fingerprint=str(model.get("fingerprint", "")),
        seconds=seconds,
        new_probes=tuple(out.name for out in outputs if out.name not in known),
    )
