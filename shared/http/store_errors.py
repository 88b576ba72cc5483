"""What a failed Redis call means for the client: was anything written, and what to do next.

A connection that never opened (refused, or a connect timeout) sent nothing, so nothing was
written. Once the command is on the wire, a read timeout or a dropped connection leaves the
outcome unknown: the script may have committed. The client is told so, and that a retry with
the same ``Idempotency-Key`` header returns the original answer instead of a second job.
A server that refuses writes (a read-only replica, ``MISCONF``, out of memory) is also 503.

redis-py retries a failed call by itself (its ``Retry``); its last error is what is judged here,
so "nothing was written" is claimed only when that last attempt never connected.
"""

from __future__ import annotations

import re

import redis

#: Seconds a client is told to wait when the job store cannot take the request.
RETRY_AFTER_S = 5

#: Start of redis-py's messages for a connection that was never opened (``Error 111
#: connecting to host:port.``, ``Timeout connecting to server``).
_CONNECT_MARKERS = ("connecting to", "Timeout connecting")

#: Server error codes that refuse a write, and the reason reported for each.
_REFUSALS = {
    "READONLY": "redis is a read-only replica",
    "MISCONF": "redis refuses writes: it cannot persist to disk (MISCONF)",
    "OOM": "redis refuses writes: it is out of memory (maxmemory reached)",
    "NOREPLICAS": "redis refuses writes: not enough replicas (min-replicas-to-write)",
    "MASTERDOWN": "redis is a replica that lost its primary",
}


#: A refusal's code at the start of an error, or inside a script's error (Redis 7 reports
#: ``Error running script (...): @user_script:93: ... -READONLY You can't write ...``).
_REFUSAL_CODE = re.compile(r"(?:^|\s-)(" + "|".join(_REFUSALS) + r")\b")


def write_refusal(exc: redis.RedisError) -> str | None:
    """Why the server refused a write (no host or key named), or None if it did not."""
    if isinstance(exc, redis.ReadOnlyError):
        return _REFUSALS["READONLY"]
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return _REFUSALS["OOM"]
    if isinstance(exc, redis.ResponseError):
        found = _REFUSAL_CODE.search(f"{exc.status_code or ''} {exc}".strip())
        return _REFUSALS[found.group(1)] if found else None
    return None


def never_connected(exc: redis.RedisError) -> bool:
    """Whether ``exc`` failed while opening the connection, before any command was sent."""
    text = str(exc)
    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError)) and (
        isinstance(exc, redis.BusyLoadingError) or any(m in text for m in _CONNECT_MARKERS)
    )


def unavailable_detail(exc: redis.RedisError) -> str | None:
    """The 503 detail for ``exc``, or None when it is not an availability error (a bug: 500)."""
    refusal = write_refusal(exc)
    if refusal is not None:
        return (
            f"The job store is not accepting writes ({refusal}); the request was not stored. "
            "Retry later."
        )
    if not isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return None
    if never_connected(exc):
        return "The job store is unreachable; nothing was written. Retry later."
    what = "did not answer in time" if isinstance(exc, redis.TimeoutError) else "dropped the call"
    return (
        f"The job store {what}: the request may or may not have been stored. Retry with the "
        "same Idempotency-Key header (send one with every request that creates jobs) to get "
        "the original answer instead of a second job."
    )
