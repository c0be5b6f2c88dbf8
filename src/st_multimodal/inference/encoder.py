"""The constructor shared by our model classes (``SentenceTransformer``, ``CrossEncoder``, ``MultiVectorEncoder``)."""

from __future__ import annotations

from typing import Any

from ..model_fixes import apply_model_fixes
from ..selfcheck.mixin import SelfCheckMixin, pop_self_check_kwarg
from .mixin import MultimodalMixin, split_init_kwargs
from .multiprocess import MultiProcessMixin

__all__ = ["MultimodalModelMixin"]


class MultimodalModelMixin(SelfCheckMixin, MultiProcessMixin, MultimodalMixin):
    """Everything our model classes add to upstream's: the constructor arguments, self-check and multi-process options."""

    def __init__(self, *args: Any, **kwargs: Any):
        self_check = pop_self_check_kwarg(kwargs)  # self-check (selfcheck/mixin.py)
        ours, upstream = split_init_kwargs(kwargs)
        path = args[0] if args else upstream.get("model_name_or_path")
        args, upstream = self._upstream_init_arguments(args, upstream)
        super().__init__(*args, **upstream)
        self._setup_multimodal(**ours)
        apply_model_fixes(self)
        self._self_check_after_load(path, self_check, upstream)

    def _upstream_init_arguments(self, args: tuple, upstream: dict) -> tuple[tuple, dict]:
        """Upstream's constructor arguments (a subclass may assemble modules here)."""
        return args, upstream
