"""Golden-vector self-check: does this model, on this runtime, still give the vectors it gave on a trusted one?

>>> model.save_reference("model_folder")            # on a trusted machine  # doctest: +SKIP
>>> model.self_check("model_folder")                # later, anywhere: raises EmbeddingDriftError on drift  # doctest: +SKIP

Layers: :mod:`.probes` (the fixed inputs), :mod:`.encoders` (probes -> vectors, per kind of model),
:mod:`.reference` (the file), :mod:`.report` (comparison and report), :mod:`.mixin` (the model methods).
"""

from .encoders import PAIR_SCORES, SENTENCE_EMBEDDINGS, ProbeEncoder, ProbeOutput, token_vectors_encoder
from .errors import EmbeddingDriftError, IncompatibleReferenceError, SelfCheckError, SelfCheckWarning
from .mixin import SelfCheckMixin, pop_self_check_kwarg
from .probes import PROBE_SET_VERSION, Probe, embedding_probes, pair_probes
from .reference import REFERENCE_FILE_NAME, Reference, environment
from .report import EnvironmentChange, ProbeResult, SelfCheckReport, default_tolerance

__all__ = [
    "PROBE_SET_VERSION",
    "REFERENCE_FILE_NAME",
    "PAIR_SCORES",
    "SENTENCE_EMBEDDINGS",
    "EmbeddingDriftError",
    "EnvironmentChange",
    "IncompatibleReferenceError",
    "Probe",
    "ProbeEncoder",
    "ProbeOutput",
    "ProbeResult",
    "Reference",
    "SelfCheckError",
    "SelfCheckMixin",
    "SelfCheckReport",
    "SelfCheckWarning",
    "default_tolerance",
    "embedding_probes",
    "environment",
    "pair_probes",
    "pop_self_check_kwarg",
    "token_vectors_encoder",
]
