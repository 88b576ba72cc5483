"""The schedule table as ``GET /api/cron`` sees it: every schedule of ``serverless.yml``, with
its next run, published to Redis by each ``qs scheduler`` (at start and after every tick).

``serverless.yml`` stays the one source of schedules; Redis holds a copy so that any gateway
can list them. One hash in the cron queue's slot: rule name -> entry JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.jobs.keys import queue_key
from shared.jobs.queues import CRON_QUEUE
from shared.redis_client import get_redis, server_time_ms


class ScheduleEntry(BaseModel):
    """One schedule expression of one cron function."""

    name: str  #: the function's name in ``serverless.yml``
    rule: str  #: the EventBridge rule name
    actor: str  #: the Dramatiq actor a worker runs it as
    expression: str  #: ``rate(…)`` or ``cron(…)``, as written
    timezone: str | None = None  #: IANA zone the expression is read in; None: UTC
    cron: str  #: the unix cron form the emulator fires it at
    next_run_ms: int | None = None  #: the next tick, epoch ms (set by the scheduler)


def registry_key() -> str:
    return queue_key(CRON_QUEUE, "schedules")


def published_key() -> str:
    """When the table was last published, epoch ms (Redis' clock); same slot as the table."""
    return queue_key(CRON_QUEUE, "schedules", "at")


def publish(entries: list[ScheduleEntry], client: Any = None) -> None:
    """Replace the table with ``entries`` and note when (one transaction, one slot)."""
    client = client or get_redis()
    at_ms = server_time_ms(client)
    pipe = client.pipeline(transaction=True)
    pipe.delete(registry_key())
    if entries:
        pipe.hset(registry_key(), mapping={e.rule: e.model_dump_json() for e in entries})
    pipe.set(published_key(), at_ms)
    pipe.execute()


def published_at_ms(client: Any = None) -> int | None:
    """When a scheduler last published the table, or None if none ever did."""
    raw = (client or get_redis()).get(published_key())
    return int(raw) if raw else None


def entries(client: Any = None) -> list[ScheduleEntry]:
    """Every published schedule, ordered by function name, then rule."""
    raw = (client or get_redis()).hgetall(registry_key())
    found = [ScheduleEntry.model_validate_json(value) for value in raw.values()]
    return sorted(found, key=lambda e: (e.name, e.rule))


def by_name(client: Any = None) -> dict[str, list[ScheduleEntry]]:
    """The published schedules grouped by function name."""
    grouped: dict[str, list[ScheduleEntry]] = {}
    for entry in entries(client):
        grouped.setdefault(entry.name, []).append(entry)
    return grouped
