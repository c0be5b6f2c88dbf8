"""Retrieval on top of the models: a multimodal index, retrieve-then-rerank, calibration, modality centring.

Nothing below this package imports it.
"""

from __future__ import annotations

from .backends import BACKENDS, ExactBackend, FaissBackend, SearchBackend, register_backend
from .calibration import Calibrator, IsotonicMapping, PlattMapping, fit_isotonic, fit_platt, precision_recall
from .centering import ModalityCentering
from .index import MultimodalIndex
from .maxsim import TokenVectors, maxsim
from .multivector import MultiVectorIndex
from .records import AddResult, DuplicateIdError, Hit
from .storage import ModelMismatchError

__all__ = [
    "MultimodalIndex",
    "MultiVectorIndex",
    "TokenVectors",
    "maxsim",
    "Hit",
    "AddResult",
    "DuplicateIdError",
    "ModelMismatchError",
    "Calibrator",
    "PlattMapping",
    "IsotonicMapping",
    "fit_platt",
    "fit_isotonic",
    "precision_recall",
    "ModalityCentering",
    "SearchBackend",
    "ExactBackend",
    "FaissBackend",
    "BACKENDS",
    "register_backend",
]
