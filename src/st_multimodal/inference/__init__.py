"""Inference for our model classes, in small modules:

- ``options``: the per-call options (``CallOptions``) and how they cross upstream's ``encode``/``predict``;
- ``inputs``: helpers about a call's inputs (containers, remote or not, legacy task dicts, per-item outputs);
- ``mixin``: the model's multimodal settings, resolving and the pipelined loop;
- ``cached``: rows of an embedding call through the embedding cache;
- ``multiprocess``: ``device=[...]`` / ``pool=`` with the options carried to the worker processes;
- ``encoder``: the constructor shared by every model class.
"""

from .encoder import MultimodalModelMixin
from .inputs import ItemInfo, at_input_positions, is_remote_input, is_singular_like, materialize_inputs, per_item_outputs
from .mixin import MultimodalMixin, split_init_kwargs
from .options import CallOptions, OnError

__all__ = ["CallOptions", "ItemInfo", "MultimodalMixin", "MultimodalModelMixin", "OnError",
           "at_input_positions", "is_remote_input", "is_singular_like", "materialize_inputs", "per_item_outputs",
           "split_init_kwargs"]
