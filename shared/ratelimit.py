"""Admission limits: "at most N requests per window per key", several at once, atomically.

One reusable piece for any endpoint (e.g. ``POST /api/ai-response``: 100/min per workspace and
5/min per contact). A sliding window over Redis' own clock, so every gateway process and
machine shares one count; a refused request counts against nothing.
"""

from __future__ import annotations

import functools
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from shared.http.problems import Problem
from shared.redis_client import get_redis, key


@dataclass(frozen=True)
class Limit:
    """At most ``max`` requests per ``window_ms`` milliseconds, per subject, named ``name``."""

    name: str
    max: int
    window_ms: int


@dataclass(frozen=True)
class Decision:
    admitted: bool
    retry_after_ms: int = 0  #: when refused: until the first slot frees up, in milliseconds


@functools.cache
def _script() -> Any:
    source = (Path(__file__).with_name("lua") / "admit.lua").read_text()
    return redis.Redis().register_script(source)  # the client here only computes the SHA


def admit(checks: list[tuple[Limit, str]], client: redis.Redis | None = None) -> Decision:
    """Admit one request against every ``(limit, subject)``; all or nothing."""
    keys = [key("rl", limit.name, subject) for limit, subject in checks]
    args: list[Any] = [uuid.uuid4().hex]
    for limit, _ in checks:
        args += [limit.max, limit.window_ms]
    admitted, wait_ms = _script()(keys=keys, args=args, client=client or get_redis())
    return Decision(bool(admitted), int(wait_ms))


def enforce(checks: list[tuple[Limit, str]]) -> None:
    """``admit``, or a 429 problem with ``Retry-After`` (whole seconds, rounded up)."""
    decision = admit(checks)
    if not decision.admitted:
        seconds = max(1, math.ceil(decision.retry_after_ms / 1000))
        names = ", ".join(
            f"{limit.name} ({limit.max} per {limit.window_ms // 1000} s)" for limit, _ in checks
        )
        raise Problem(
            429,
            f"Rate limit reached ({names}); retry in {seconds} s.",
            title="Too Many Requests",
            headers={"retry-after": str(seconds)},
            retryAfterMs=decision.retry_after_ms,
        )
