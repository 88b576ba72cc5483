"""Retry back-off: how long a job waits before its next try."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Literal

#: Longest back-off, in milliseconds (one hour).
MAX_DELAY_MS = 3_600_000

BackoffKind = Literal["fixed", "exponential"]


def backoff_ms(
    attempt: int,
    *,
    kind: BackoffKind,
    delay_ms: int,
    jitter: float = 0.2,
    rng: Callable[[], float] = random.random,
) -> int:
    """Wait before the next try, in milliseconds, after ``attempt`` tries (1 after the first).

    ``exponential`` doubles ``delay_ms`` per try; the result is scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` and capped at :data:`MAX_DELAY_MS`.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts tries already made and starts at 1, got {attempt}")
    if not 0 <= jitter <= 1:
        raise ValueError(f"jitter is a fraction in [0, 1], got {jitter}")
    if kind == "fixed":
        base = delay_ms
    elif kind == "exponential":
        base = delay_ms * 2 ** min(attempt - 1, 63)
    else:
        raise ValueError(f"backoff kind must be 'fixed' or 'exponential', got {kind!r}")
    scaled = min(base, MAX_DELAY_MS) * (1 + jitter * (2 * rng() - 1))
    return max(0, min(round(scaled), MAX_DELAY_MS))


def next_retry_delay_ms(
    attempt: int, kind: BackoffKind, delay_ms: int, retry_after_s: float | None = None
) -> int:
    """Back-off for ``attempt``, or the receiver's ``Retry-After`` when that is longer, in ms."""
    wait = backoff_ms(attempt, kind=kind, delay_ms=delay_ms)
    if retry_after_s is not None:
        wait = max(wait, math.ceil(retry_after_s * 1000))
    return wait
