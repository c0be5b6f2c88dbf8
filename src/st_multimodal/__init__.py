"""sentence-transformers-multimodal: one Sentence Transformers API for text, images, audio and video.

>>> from st_multimodal import SentenceTransformer
>>> model = SentenceTransformer("path/or/hub-id")          # doctest: +SKIP
>>> model.encode(["https://…/car.jpg", "photo.png", "a green car"])  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Names are imported on first use (PEP 562), so ``import st_multimodal`` and the command line's
# ``--help`` do not pay for torch and transformers. Each submodule registers its built-ins
# (sources, decoders, resolvers, index backends) when it is first imported, before any use.
_EXPORTS: dict[str, tuple[str, ...]] = {
    ".errors": (
        "BlockedSourceError", "DecodeError", "EncryptedDocumentError", "FetchError", "LimitExceededError",
        "MissingDependencyError", "ModalityNotSupportedError", "MultimodalInputError", "PageOutOfRangeError",
        "UnsupportedInputError",
    ),
    ".policy": ("DecodeLimits", "FetchPolicy"),
    ".registry": ("Registry", "RegistryError"),
    ".resolvers": (
        "RESOLVERS", "DocumentPage", "ExpandedInputs", "TypedInput", "as_audio", "as_document", "as_image",
        "as_text", "as_video", "expand_documents", "register_resolver", "resolve",
    ),
    ".sources.base": ("SOURCES", "register_source"),
    ".decoders.base": ("DECODERS", "register_decoder"),
    ".types": ("Failure", "Provenance", "Resolved", "ResolveContext"),
    ".loading": ("load", "model_kind"),
    ".model_class_check": ("WrongModelClassError",),
    ".models": ("CrossEncoder", "SentenceTransformer"),
    ".multivector": ("MultiVectorEncoder",),
    ".pipeline": ("DecodedCache", "EmbeddingCache"),
    ".streaming": ("EncodeReport", "encode_to_disk", "load_embeddings"),
    ".retrieval": (
        "AddResult", "Calibrator", "DuplicateIdError", "Hit", "ModalityCentering", "ModelMismatchError",
        "MultimodalIndex",
    ),
    ".retrieval.maxsim": ("maxsim",),
    ".demo": ("demo_model", "demo_model_path"),
    ".selfcheck": (
        "EmbeddingDriftError", "IncompatibleReferenceError", "SelfCheckError", "SelfCheckReport",
        "SelfCheckWarning",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "SentenceTransformer",
    "CrossEncoder",
    "MultiVectorEncoder",
    "maxsim",
    "load",
    "model_kind",
    "FetchPolicy",
    "DecodeLimits",
    "MultimodalInputError",
    "UnsupportedInputError",
    "ModalityNotSupportedError",
    "FetchError",
    "BlockedSourceError",
    "DecodeError",
    "LimitExceededError",
    "MissingDependencyError",
    "EncryptedDocumentError",
    "PageOutOfRangeError",
    "as_text",
    "as_image",
    "as_audio",
    "as_video",
    "as_document",
    "expand_documents",
    "ExpandedInputs",
    "DocumentPage",
    "TypedInput",
    "resolve",
    "register_resolver",
    "register_source",
    "register_decoder",
    "RESOLVERS",
    "SOURCES",
    "DECODERS",
    "Registry",
    "RegistryError",
    "Resolved",
    "Provenance",
    "Failure",
    "ResolveContext",
    "EmbeddingCache",
    "DecodedCache",
    "encode_to_disk",
    "load_embeddings",
    "EncodeReport",
    "MultimodalIndex",
    "Hit",
    "AddResult",
    "DuplicateIdError",
    "ModelMismatchError",
    "WrongModelClassError",
    "Calibrator",
    "ModalityCentering",
    "demo_model",
    "demo_model_path",
    "SelfCheckReport",
    "SelfCheckError",
    "EmbeddingDriftError",
    "IncompatibleReferenceError",
    "SelfCheckWarning",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and the API reference see
    from .errors import (
        BlockedSourceError,
        DecodeError,
        EncryptedDocumentError,
        FetchError,
        LimitExceededError,
        MissingDependencyError,
        ModalityNotSupportedError,
        MultimodalInputError,
        PageOutOfRangeError,
        UnsupportedInputError,
    )
    from .policy import DecodeLimits, FetchPolicy
    from .registry import Registry, RegistryError
    from .resolvers import (
        RESOLVERS,
        DocumentPage,
        ExpandedInputs,
        TypedInput,
        as_audio,
        as_document,
        as_image,
        as_text,
        as_video,
        expand_documents,
        register_resolver,
        resolve,
    )
    from .sources.base import SOURCES, register_source
    from .decoders.base import DECODERS, register_decoder
    from .types import Failure, Provenance, Resolved, ResolveContext
    from .loading import load, model_kind
    from .model_class_check import WrongModelClassError
    from .models import CrossEncoder, SentenceTransformer
    from .multivector import MultiVectorEncoder
    from .pipeline import DecodedCache, EmbeddingCache
    from .streaming import EncodeReport, encode_to_disk, load_embeddings
    from .retrieval import AddResult, Calibrator, DuplicateIdError, Hit, ModalityCentering, ModelMismatchError, MultimodalIndex
    from .retrieval.maxsim import maxsim
    from .demo import demo_model, demo_model_path
    from .selfcheck import EmbeddingDriftError, IncompatibleReferenceError, SelfCheckError, SelfCheckReport, SelfCheckWarning
