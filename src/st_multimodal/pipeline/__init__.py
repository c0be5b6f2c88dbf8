"""The pipelined inference loop, batching, device transfer and caches."""

from .batching import Batch, Bucketer
from .cache import DecodedCache, EmbeddingCache, cache_key
from .fingerprint import model_fingerprint
from .runner import Pipeline, Prepared, Row, is_out_of_memory

__all__ = [
    "Batch",
    "Bucketer",
    "DecodedCache",
    "EmbeddingCache",
    "cache_key",
    "model_fingerprint",
    "Pipeline",
    "Prepared",
    "Row",
    "is_out_of_memory",
]
