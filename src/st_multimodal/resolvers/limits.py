"""Limits checked while resolving, before any expensive step: text length and nesting depth."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import LimitExceededError, describe_text
from ..policy import DecodeLimits

__all__ = ["check_text_length", "nested"]

_DEPTH = threading.local()


def check_text_length(text: str, limits: DecodeLimits) -> str:
    """``text`` itself, or a LimitExceededError when it is longer than ``limits.max_text_chars`` (O(1), before hashing or tokenising)."""
    if len(text) > limits.max_text_chars:
        raise LimitExceededError(
            f"text of {len(text)} characters is longer than DecodeLimits.max_text_chars",
            limit_name="max_text_chars", limit=limits.max_text_chars, actual=len(text), source=describe_text(text),
        )
    return text


@contextmanager
def nested(limits: DecodeLimits) -> Iterator[None]:
    """One level deeper into a structured input (a dict, a message, a typed wrapper) on this thread;
    a LimitExceededError past ``limits.max_depth``, long before Python's recursion limit."""
    depth = getattr(_DEPTH, "value", 0) + 1
    if depth > limits.max_depth:
        raise LimitExceededError(
            "input is nested more deeply than DecodeLimits.max_depth (dicts, messages or typed wrappers inside each other)",
            limit_name="max_depth", limit=limits.max_depth, actual=depth,
        )
    _DEPTH.value = depth
    try:
        yield
    finally:
        _DEPTH.value = depth - 1
