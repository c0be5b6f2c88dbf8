"""The per-item budgets of ``DecodeLimits``: memory (``max_item_bytes``) and decode time (``max_decode_seconds``).

Decoders estimate what an allocation will hold before making it (``check_item_bytes``) and call
``Deadline.check`` inside their loops, so one hostile item fails with a ``LimitExceededError`` naming
the limit while the rest of the batch goes on.
"""

from __future__ import annotations

import time

from ..errors import LimitExceededError
from ..policy import DecodeLimits

__all__ = ["Deadline", "check_item_bytes"]


def check_item_bytes(estimate: int, limits: DecodeLimits, what: str) -> None:
    """Raise LimitExceededError if holding ``estimate`` bytes for ``what`` would pass ``limits.max_item_bytes``."""
    if estimate > limits.max_item_bytes:
        raise LimitExceededError(f"{what} needs more memory than one item may use", limit_name="max_item_bytes",
                                 limit=limits.max_item_bytes, actual=int(estimate))


class Deadline:
    """When decoding this item must stop (``limits.max_decode_seconds`` from its creation)."""

    def __init__(self, limits: DecodeLimits) -> None:
        self.seconds = limits.max_decode_seconds
        self.started = time.monotonic()

    @property
    def left(self) -> float:
        """Seconds left (may be negative)."""
        return self.seconds - (time.monotonic() - self.started)

    def check(self, what: str) -> None:
        """Raise LimitExceededError once the deadline has passed."""
        elapsed = time.monotonic() - self.started
        if elapsed > self.seconds:
            raise LimitExceededError(f"decoding {what} took too long", limit_name="max_decode_seconds",
                                     limit=self.seconds, actual=round(elapsed, 3))
