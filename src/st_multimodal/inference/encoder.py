"""The constructor shared by our model classes (``SentenceTransformer``, ``CrossEncoder``, ``MultiVectorEncoder``).

Each class spells out its constructor: every argument of upstream's (same names and defaults), then
ours. :meth:`MultimodalModelMixin._init_multimodal` splits them, translates our one-argument knobs
(``dtype``, ``image_size``, ...) into upstream's, and passes every upstream argument on.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..cast_loading import reading_into, requested_dtype
from ..loading import model_init_kwargs
from ..model_class_check import check_model_class
from ..model_fixes import apply_model_fixes
from ..selfcheck.mixin import SelfCheckMixin, pop_self_check_kwarg
from .mixin import MULTIMODAL_DEFAULTS, MultimodalMixin
from .multiprocess import MultiProcessMixin

__all__ = ["MultimodalModelMixin", "OUR_INIT_ARGUMENTS"]

_LOADING_KNOBS = ("dtype", "image_size", "min_pixels", "max_pixels")
OUR_INIT_ARGUMENTS = (*MULTIMODAL_DEFAULTS, *_LOADING_KNOBS, "self_check")
"""The constructor arguments our classes add to upstream's (all keyword-only)."""


class MultimodalModelMixin(SelfCheckMixin, MultiProcessMixin, MultimodalMixin):
    """Everything our model classes add to upstream's: the constructor arguments, self-check and multi-process options."""

    def _init_multimodal(self, upstream_class: type, arguments: dict[str, Any]) -> None:
        """Construct with ``arguments`` (the constructor's own, by name): upstream's go to ``upstream_class``."""
        arguments = {k: v for k, v in arguments.items() if k not in ("self", "__class__")}
        ours = {name: arguments.pop(name) for name in OUR_INIT_ARGUMENTS}
        self_check = pop_self_check_kwarg(ours)
        upstream = model_init_kwargs({**arguments, **{name: ours.pop(name) for name in _LOADING_KNOBS}})
        upstream = self._known_to(upstream_class, upstream)
        path = upstream.get("model_name_or_path")
        check_model_class(type(self), path, upstream)  # a folder of another kind raises WrongModelClassError, before any weights
        with reading_into(requested_dtype(upstream.get("model_kwargs"))):  # no float32 pages held beside bf16 weights
            args, upstream = self._upstream_init_arguments((), upstream)
            super(MultimodalModelMixin, self).__init__(*args, **upstream)
        self._setup_multimodal(**ours)
        apply_model_fixes(self)
        self._self_check_after_load(path, self_check, upstream)

    def _known_to(self, upstream_class: type, upstream: dict[str, Any]) -> dict[str, Any]:
        """Leave out, at their default, the arguments an older upstream does not have yet (``use_kernels`` before 6.3);
        given another value they are passed on, and upstream refuses them as it would."""
        accepted = inspect.signature(upstream_class.__init__).parameters
        own = inspect.signature(type(self).__init__).parameters
        return {k: v for k, v in upstream.items() if k in accepted or k not in own or v is not own[k].default}

    def _upstream_init_arguments(self, args: tuple, upstream: dict) -> tuple[tuple, dict]:
        """Upstream's constructor arguments (a subclass may assemble modules here)."""
        return args, upstream
