"""The options of one ``encode`` / ``predict`` call, as one explicit, picklable object.

Our ``encode`` / ``predict`` build a :class:`CallOptions` and call upstream's method, which validates
and normalises its own arguments and then calls our ``_inference`` (or ``_multi_process``). Upstream's
``encode`` refuses keyword arguments it does not know, so the object cannot ride along as one: it is
handed over for the duration of that one call (:func:`passing`) and taken back, explicitly, at the
first of our methods upstream calls (:func:`handed_over`). From there it is an ordinary argument:
passed down the loop, and pickled with each chunk sent to worker processes, which return the
failures they recorded with their rows.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from ..types import Failure, ResolveContext

__all__ = ["CallOptions", "OnError", "handed_over", "passing"]

OnError = Literal["raise", "skip"]


@dataclass
class CallOptions:
    """What one call asked for beyond upstream's arguments, and the failures it recorded.

    ``ctx``: fetch policy, decode limits and strictness the inputs are resolved under;
    ``on_error``: raise at the first bad input, or skip it and record a :class:`~st_multimodal.Failure`;
    ``use_cache``: whether the embedding cache may answer.
    """

    ctx: ResolveContext
    on_error: OnError = "raise"
    use_cache: bool = True
    failures: list[Failure] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {self.on_error!r}")

    def for_chunk(self) -> CallOptions:
        """The same options with an empty failure list (what a worker process receives with its chunk)."""
        return CallOptions(ctx=self.ctx, on_error=self.on_error, use_cache=self.use_cache)


_HANDOVER: contextvars.ContextVar[CallOptions | None] = contextvars.ContextVar("st_multimodal_call", default=None)


@contextmanager
def passing(options: CallOptions) -> Iterator[CallOptions]:
    """Hand ``options`` across one call of an upstream method (which cannot take them as an argument)."""
    token = _HANDOVER.set(options)
    try:
        yield options
    finally:
        _HANDOVER.reset(token)


def handed_over() -> CallOptions | None:
    """The options handed across the upstream call in progress on this thread, if any."""
    return _HANDOVER.get()
