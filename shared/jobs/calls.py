"""The HTTP calls one attempt of a job makes (callbacks, webhooks), kept with the attempt in
the job's history: URL (without its query), status code, latency and ``webhook-id``.

The runner opens ``recording()`` around each attempt; ``shared.delivery.callbacks`` adds each
POST it makes in that thread (``record``). Outside an attempt nothing is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

#: Most calls kept per attempt (the first ones).
MAX_CALLS = 20
_CALLS: ContextVar[list[dict[str, Any]] | None] = ContextVar("qs_attempt_calls", default=None)


@contextmanager
def recording() -> Iterator[list[dict[str, Any]]]:
    """Collect the calls made in this context (one attempt)."""
    calls: list[dict[str, Any]] = []
    token = _CALLS.set(calls)
    try:
        yield calls
    finally:
        _CALLS.reset(token)


def record(
    url: str, *, status: int | None, ms: float, webhook_id: str, ok: bool, error: str | None
) -> None:
    """One call of the current attempt (ignored outside ``recording``)."""
    calls = _CALLS.get()
    if calls is None or len(calls) >= MAX_CALLS:
        return
    calls.append({
        "url": url.split("?", 1)[0][:500], "status": status, "ms": round(ms, 1),
        "webhookId": webhook_id, "ok": ok, "error": (error or "")[:300] or None,
    })  # fmt: skip
