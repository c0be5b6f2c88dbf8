"""What a self-check raises or warns::

    SelfCheckError(ValueError)
     ├── EmbeddingDriftError          vectors moved beyond the tolerance; ``.report`` says which and by how much
     └── IncompatibleReferenceError   the reference cannot be compared (probe set, encoder, dims, damaged file)
    SelfCheckWarning(UserWarning)     the same findings, when the caller asked for warnings
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import SelfCheckReport

__all__ = ["SelfCheckError", "EmbeddingDriftError", "IncompatibleReferenceError", "SelfCheckWarning"]


class SelfCheckError(ValueError):
    """Base class of the self-check errors."""


class EmbeddingDriftError(SelfCheckError):
    """The model's outputs for the probes differ from the reference beyond the tolerance.

    ``.report`` is the full :class:`~st_multimodal.selfcheck.SelfCheckReport`; the message is its table.
    """

    def __init__(self, report: "SelfCheckReport"):
        self.report = report
        super().__init__(str(report))

    def __reduce__(self):
        return (type(self), (self.report,))


class IncompatibleReferenceError(SelfCheckError):
    """The reference cannot be compared with this model: another probe-set version or encoder, other vector
    sizes, a missing or damaged file."""


class SelfCheckWarning(UserWarning):
    """A self-check found drift (or could not run) and the caller asked to be warned rather than stopped."""
