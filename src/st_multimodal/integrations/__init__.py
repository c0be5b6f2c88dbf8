"""Adapters for other data tools, each importing its tool only when used.

- :mod:`st_multimodal.integrations.datasets`: ``encode_dataset`` for Hugging Face ``datasets`` (extra ``datasets``).
- :mod:`st_multimodal.integrations.ray`: ``encode_ray_dataset`` for Ray Data actor pools (extra ``ray``).

Nothing below this package imports it.
"""
