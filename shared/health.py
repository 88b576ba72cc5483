"""The health report behind ``GET /api/health``, ``GET /api/health/status`` and the
``health-check`` cron function.

Two questions, kept apart so that a load balancer never takes gateways out of rotation for a
problem they cannot fix:

- ``accepting``: can this gateway accept and store jobs? Redis answers and takes a write (a
  read-only replica, ``MISCONF`` or an out-of-memory Redis does not).
- ``status``: ``ok``, ``degraded`` (accepting, but no worker or scheduler is alive or a queue
  is backlogged: jobs are stored but not run) or ``unavailable`` (not accepting).

Backlogs count jobs (the job store's state indexes, which include jobs in the service's ready
lines and on Dramatiq messages), never Dramatiq messages, which carry up to
``DELIVERY_BATCH`` jobs each. Ages use Redis' clock. The report names no host, key or address.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import redis
from pydantic import BaseModel

from shared.http.store_errors import write_refusal
from shared.jobs.liveness import alive
from shared.jobs.queues import CRON_QUEUE, JOB_QUEUES, QUEUES, QueueSpec, ready_key
from shared.jobs.store import JobStore
from shared.redis_client import get_redis, key, server_time_ms

#: A queue whose oldest waiting job has waited longer than this many seconds is backlogged.
BACKLOG_WAIT_S = 300
#: A queue with delayed jobs due more than this many seconds ago is backlogged (the scheduler
#: is not keeping up).
OVERDUE_S = 60
#: Key the write probe sets (expires by itself), and its lifetime in milliseconds.
PROBE_KEY, PROBE_TTL_MS = ("health", "probe"), 60_000

Status = Literal["ok", "degraded", "unavailable"]


class RedisCheck(BaseModel):
    ok: bool  #: answers and accepts writes
    writable: bool
    latencyMs: float | None = None  #: round trip of one command, in milliseconds


class RoleCheck(BaseModel):
    ok: bool
    alive: int


class QueueBacklog(BaseModel):
    waiting: int  #: jobs due and not started (ready lines and Dramatiq messages)
    delayed: int  #: jobs due later (scheduled, or backing off before a retry)
    oldestWaitingMs: int | None = None  #: how long the oldest waiting job has waited


class Health(BaseModel):
    """What ``GET /api/health`` shows to anyone: no per-queue figures."""

    status: Status
    accepting: bool  #: this gateway can accept and store jobs
    reasons: list[str]
    redis: RedisCheck
    workers: RoleCheck
    scheduler: RoleCheck

    @property
    def healthy(self) -> bool:
        return self.status == "ok"


class HealthReport(Health):
    """The full report (``GET /api/health/status``, the cron check): backlogs per queue."""

    queues: dict[str, QueueBacklog]
    #: the ``health-check`` cron function's last result (``shared.cron.health_watch``), with
    #: failure rates and backends; None before its first run
    lastCheck: dict[str, Any] | None = None

    def summary(self) -> Health:
        return Health.model_validate(self.model_dump(exclude={"queues"}))


def _probe(client: redis.Redis) -> tuple[RedisCheck, list[str]]:
    """Redis' round trip and whether it takes a write; the reason when it does not."""
    started = time.perf_counter()
    client.ping()
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    try:
        client.set(key(*PROBE_KEY), "1", px=PROBE_TTL_MS)
    except redis.ResponseError as exc:
        reason = write_refusal(exc)
        if reason is None:
            raise
        return RedisCheck(ok=False, writable=False, latencyMs=latency_ms), [reason]
    return RedisCheck(ok=True, writable=True, latencyMs=latency_ms), []


def _kept_queues() -> list[tuple[str, QueueSpec]]:
    """Every queue kept in Redis (a split queue's sub-queues, each on its own), then cron."""
    return [(spec.name, spec) for spec in (*JOB_QUEUES, QUEUES[CRON_QUEUE])]


def _backlogs(client: redis.Redis) -> tuple[dict[str, QueueBacklog], list[str]]:
    """Every queue's backlog in jobs, and the reasons of the backlogged ones (paused ignored)."""
    store = JobStore(client)
    now_ms = server_time_ms(client)
    pipe = client.pipeline(transaction=False)
    for name, spec in _kept_queues():
        if spec.processor is None:  # the cron queue: one Dramatiq message per tick, no store
            pipe.llen(ready_key(name))
            continue
        pipe.zcard(store.qkey(name, "jobs", "waiting"))
        pipe.zcard(store.qkey(name, "jobs", "delayed"))
        pipe.zrange(store.qkey(name, "jobs", "waiting"), 0, 0, withscores=True)
        pipe.zcount(store.qkey(name, "jobs", "delayed"), "-inf", now_ms - OVERDUE_S * 1000)
    replies = iter(pipe.execute())
    paused = store.paused()
    queues, reasons = {}, []
    for name, spec in _kept_queues():
        if spec.processor is None:
            queues[name] = QueueBacklog(waiting=next(replies), delayed=0)
            continue
        waiting, delayed, oldest, overdue = (next(replies) for _ in range(4))
        age_ms = max(now_ms - int(oldest[0][1]), 0) if oldest else None
        queues[name] = QueueBacklog(waiting=waiting, delayed=delayed, oldestWaitingMs=age_ms)
        if name in paused:
            continue
        if age_ms is not None and age_ms > BACKLOG_WAIT_S * 1000:
            reasons.append(f"{name}: the oldest waiting job has waited {age_ms // 1000} s")
        if overdue:
            reasons.append(f"{name}: delayed jobs are overdue by more than {OVERDUE_S} s")
    return queues, reasons


def check() -> HealthReport:
    """Probe Redis (round trip, a write), worker and scheduler heartbeats, and queue backlogs."""
    client = get_redis()
    try:
        redis_check, reasons = _probe(client)
        workers, schedulers = len(alive("worker")), len(alive("scheduler"))
        queues, backlog_reasons = _backlogs(client)
    except (redis.ConnectionError, redis.TimeoutError):
        return HealthReport(
            status="unavailable",
            accepting=False,
            reasons=["redis unreachable"],
            redis=RedisCheck(ok=False, writable=False),
            workers=RoleCheck(ok=False, alive=0),
            scheduler=RoleCheck(ok=False, alive=0),
            queues={},
        )
    if not workers:
        reasons.append("no worker alive")
    if not schedulers:
        reasons.append("no scheduler alive")
    reasons += backlog_reasons
    accepting = redis_check.ok
    return HealthReport(
        status="unavailable" if not accepting else "degraded" if reasons else "ok",
        accepting=accepting,
        reasons=reasons,
        redis=redis_check,
        workers=RoleCheck(ok=workers > 0, alive=workers),
        scheduler=RoleCheck(ok=schedulers > 0, alive=schedulers),
        queues=queues,
    )
