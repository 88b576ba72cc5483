"""The health report shared by ``GET /api/health`` and the ``health-check`` cron function.

It names no host, key or address: it is served without credentials.
"""

from __future__ import annotations

import time

import redis
from pydantic import BaseModel

from shared.liveness import alive
from shared.queues import QUEUES, ready_key
from shared.redis_client import get_redis, key


class RedisCheck(BaseModel):
    ok: bool
    latencyMs: float | None = None


class RoleCheck(BaseModel):
    ok: bool
    alive: int


class QueueBacklog(BaseModel):
    waiting: int  #: ready in Dramatiq's queue
    delayed: int  #: due later (scheduled, or backing off before a retry)


class HealthReport(BaseModel):
    status: str  #: "ok" or "unhealthy"
    reasons: list[str]
    redis: RedisCheck
    workers: RoleCheck
    scheduler: RoleCheck
    queues: dict[str, QueueBacklog]

    @property
    def healthy(self) -> bool:
        return self.status == "ok"


def check() -> HealthReport:
    """Probe Redis (round trip in ms), worker and scheduler heartbeats, and queue backlogs."""
    client = get_redis()
    try:
        started = time.perf_counter()
        client.ping()
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
    except (redis.ConnectionError, redis.TimeoutError):
        return HealthReport(
            status="unhealthy",
            reasons=["redis unreachable"],
            redis=RedisCheck(ok=False),
            workers=RoleCheck(ok=False, alive=0),
            scheduler=RoleCheck(ok=False, alive=0),
            queues={},
        )
    workers, schedulers = len(alive("worker")), len(alive("scheduler"))
    pipe = client.pipeline(transaction=False)
    for name in QUEUES:
        pipe.llen(ready_key(name))
        pipe.zcard(key("jobs", name, "delayed"))
    counts = iter(pipe.execute())
    backlog = {name: QueueBacklog(waiting=next(counts), delayed=next(counts)) for name in QUEUES}
    reasons = []
    if not workers:
        reasons.append("no worker alive")
    if not schedulers:
        reasons.append("no scheduler alive")
    return HealthReport(
        status="unhealthy" if reasons else "ok",
        reasons=reasons,
        redis=RedisCheck(ok=True, latencyMs=latency_ms),
        workers=RoleCheck(ok=workers > 0, alive=workers),
        scheduler=RoleCheck(ok=schedulers > 0, alive=schedulers),
        queues=backlog,
    )
