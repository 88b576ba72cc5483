"""Admission limits: "at most N requests per window per key", several at once, atomically.

One reusable piece for any endpoint (e.g. ``POST /api/ai-response``: 100/min per workspace and
5/min per contact). A sliding window over Redis' own clock, so every gateway process and
machine shares one count; a refused request counts against nothing.

A count belongs to one organisation: its key is ``rl:{<org>}:<limit>:<subject parts>``, each
part percent-encoded (no part can contain the ``:`` between them, so ``("a:b", "c")`` and
``("a", "b:c")`` are different keys), the organisation as the hash tag (the keys of one
request share a Redis Cluster slot). Pass the caller's ``org`` for anything per tenant; the
empty organisation (:data:`GLOBAL`) is for limits every organisation shares.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from shared.http.problems import Problem
from shared.redis_client import get_redis, key, script


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


#: What a limit counts: one part (``"w1"``) or several (``("w1", "+14155550123")``).
Subject = str | Sequence[str]
#: One admission check: a limit and its subject.
Check = tuple[Limit, Subject]
#: The organisation of limits shared by every organisation.
GLOBAL = ""


def _part(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def limiter_key(org: str, limit: Limit, subject: Subject) -> str:
    """The Redis key counting ``subject`` under ``limit`` for organisation ``org``."""
    parts = (subject,) if isinstance(subject, str) else tuple(subject)
    return key("rl", "{" + _part(org) + "}", _part(limit.name), *map(_part, parts))


@functools.cache
def _script() -> Any:
    return script((Path(__file__).with_name("lua") / "admit.lua").read_text())


def admit(
    checks: Sequence[Check], client: redis.Redis | None = None, *, org: str = GLOBAL
) -> Decision:
    """Admit one request of ``org`` against every ``(limit, subject)``; all or nothing."""
    keys = [limiter_key(org, limit, subject) for limit, subject in checks]
    args: list[Any] = [uuid.uuid4().hex]
    for limit, _ in checks:
        args += [limit.max, limit.window_ms]
    admitted, wait_ms = _script()(keys=keys, args=args, client=client or get_redis())
    return Decision(bool(admitted), int(wait_ms))


def enforce(checks: Sequence[Check], *, org: str = GLOBAL) -> None:
    """``admit``, or a 429 problem with ``Retry-After`` (whole seconds, rounded up)."""
    decision = admit(checks, org=org)
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
