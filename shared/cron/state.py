"""Each cron function's state in Redis: its last run, result and error, and its pause flag.

One hash per function in the cron queue's slot (``<prefix>:{cron}:schedule:<name>``), written
by the function's own wrapper (``shared.cron.runner``) wherever it runs, Lambda included.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel

from shared.jobs.keys import queue_key
from shared.jobs.queues import CRON_QUEUE
from shared.redis_client import get_redis

#: How a run ended: ``skipped`` when the schedule was paused.
RunStatus = Literal["ok", "error", "skipped"]
#: Longest result kept, in characters of JSON (a larger one is cut and flagged).
MAX_RESULT_CHARS = 4_000


class ScheduleState(BaseModel):
    """What Redis holds about one cron function."""

    paused: bool = False
    last_run_ms: int | None = None  #: when the last run (or skipped tick) started, epoch ms
    last_status: RunStatus | None = None
    last_result: Any = None  #: what the handler returned (JSON)
    last_error: str | None = None  #: the last failure, kept until a run succeeds
    last_duration_ms: int | None = None
    runs: int = 0  #: runs and skipped ticks counted so far


def state_key(name: str) -> str:
    return queue_key(CRON_QUEUE, "schedule", name)


def is_paused(name: str, client: Any = None) -> bool:
    return (client or get_redis()).hget(state_key(name), "paused") == "1"


def set_paused(name: str, paused: bool, client: Any = None) -> None:
    (client or get_redis()).hset(state_key(name), "paused", "1" if paused else "0")


def ensure(name: str, client: Any = None) -> bool:
    """Give ``name`` a state record if it has none (not paused, never run); True if created."""
    return bool((client or get_redis()).hsetnx(state_key(name), "paused", "0"))


def record(
    name: str,
    *,
    started_ms: int,
    duration_ms: int,
    status: RunStatus,
    result: Any = None,
    error: str | None = None,
    client: Any = None,
) -> None:
    """Store how one run ended; an error stays shown until a later run succeeds."""
    text = json.dumps(result, default=str, separators=(",", ":"))
    if len(text) > MAX_RESULT_CHARS:
        text = json.dumps({"truncated": True, "start": text[:MAX_RESULT_CHARS]})
    fields: dict[Any, Any] = {
        "lastRunMs": started_ms,
        "lastStatus": status,
        "lastResult": text,
        "lastDurationMs": duration_ms,
    }
    pipe = (client or get_redis()).pipeline(transaction=True)
    pipe.hset(state_key(name), mapping=fields)
    if error is not None:
        pipe.hset(state_key(name), "lastError", error)
    elif status == "ok":
        pipe.hdel(state_key(name), "lastError")
    pipe.hincrby(state_key(name), "runs", 1)
    pipe.execute()


def read(names: list[str], client: Any = None) -> dict[str, ScheduleState]:
    """The state of each of ``names`` (a default one for a name never seen), one round trip."""
    pipe = (client or get_redis()).pipeline(transaction=False)
    for name in names:
        pipe.hgetall(state_key(name))
    return {name: _state(raw) for name, raw in zip(names, pipe.execute(), strict=True)}


def _state(raw: dict[str, str]) -> ScheduleState:
    def number(field: str) -> int | None:
        return int(raw[field]) if raw.get(field) else None

    return ScheduleState(
        paused=raw.get("paused") == "1",
        last_run_ms=number("lastRunMs"),
        last_status=raw.get("lastStatus") or None,
        last_result=json.loads(raw["lastResult"]) if raw.get("lastResult") else None,
        last_error=raw.get("lastError") or None,
        last_duration_ms=number("lastDurationMs"),
        runs=number("runs") or 0,
    )
