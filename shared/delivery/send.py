"""Delivering a job as an HTTP callback: POST, then success or a classified ``JobFailed``."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from shared.delivery.callbacks import callback_client
from shared.delivery.paths import callback_path_error
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job


@functools.lru_cache(maxsize=1024)
def join_url(base: str, path: str) -> str:
    """``base`` + ``path`` with exactly one slash between them.

    Raises a non-retryable ``JobFailed`` when ``path`` is not a safe callback path
    (:func:`shared.delivery.callbacks.callback_path_error`), e.g. on a job stored before that check.
    Cached: every job of a queue usually names the same few (the check costs a few µs).
    """
    path = "/" + path.lstrip("/")
    if reason := callback_path_error(path):
        raise JobFailed(f"callback path {path[:200]!r} {reason}", retryable=False)
    return base.rstrip("/") + path


def deliver(
    job: Job,
    url: str,
    payload: Mapping[str, Any],
    *,
    guarded: bool = False,
    keep: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """POST ``payload`` to ``url`` (signed, ``webhook-id`` = job id); ``JobFailed`` unless 2xx.

    ``guarded``: ``url`` came from a user, so it may only reach public addresses (outside dev);
    ``keep``: what the job computed before delivering, kept on the job if the POST fails (a
    retry then reuses it rather than computing it again).
    """
    outcome = callback_client(guarded=guarded).post(url, payload, message_id=job.id)
    if outcome.ok:
        return {"status": outcome.status, "elapsedMs": round(outcome.elapsed_ms, 1)}
    raise JobFailed(
        outcome.error or f"HTTP {outcome.status}",
        retryable=outcome.retryable,
        retry_after_s=outcome.retry_after_s,
        result=keep,
    )
