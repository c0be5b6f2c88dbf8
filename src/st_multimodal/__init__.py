"""sentence-transformers-multimodal: one Sentence Transformers API for text, images, audio and video.

>>> from st_multimodal import SentenceTransformer
>>> model = SentenceTransformer("path/or/hub-id")          # doctest: +SKIP
>>> model.encode(["https://…/car.jpg", "photo.png", "a green car"])  # doctest: +SKIP
"""

from __future__ import annotations

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
from .demo import demo_model
from .selfcheck import EmbeddingDriftError, IncompatibleReferenceError, SelfCheckError, SelfCheckReport, SelfCheckWarning

__version__ = "0.1.0"

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
    "SelfCheckReport",
    "SelfCheckError",
    "EmbeddingDriftError",
    "IncompatibleReferenceError",
    "SelfCheckWarning",
    "__version__",
]
