"""The seeds' own admin paths, as thin shapes over ``shared.admin.queues`` and the health report.

- seed 002 (cron migration): ``GET /api/bullmq/stats|health|metrics``, called by its app with
  ``SERVICE_TOKEN`` (operator routes);
- seed 003 (LaunchKit): ``GET /v1/admin/queue/metrics?queue=``, ``/metrics/all`` and
  ``POST /v1/admin/queue/pause|resume|clean?queue=`` (admin JWT or the dashboard's basic auth).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, RootModel
from pydantic.alias_generators import to_camel

from shared.admin.queues import QueueStats, clean, known_queue, stats
from shared.health import check
from shared.http import Problem
from shared.jobs.queues import QUEUES, SUBQUEUES, physical_names

#: The queue a seed-003 call names when it names none (its README's metrics call has no
#: ``?queue=``): its own ``ai-jobs`` queue.
SEED_003_DEFAULT_QUEUE = "ai-jobs"


# -- seed 002 ------------------------------------------------------------------------------


class BullmqStats(BaseModel):
    success: Literal[True] = True
    timestamp: str  #: ISO 8601 UTC
    queues: dict[str, QueueStats]  #: by queue name, seed 004's stats shape


class BullmqHealth(BaseModel):
    """Seed 004's ``healthCheck()`` shape (``healthy``, ``queues: {name: bool}``), with the
    report's ``status`` and ``reasons``."""

    healthy: bool
    status: str
    reasons: list[str]
    queues: dict[str, bool]  #: a queue is healthy when no reason names it


def bullmq_stats() -> BullmqStats:
    return BullmqStats(
        timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        queues={s.queueName: s for s in stats()},
    )


def bullmq_health() -> BullmqHealth:
    report = check()
    named = {reason.partition(":")[0] for reason in report.reasons}
    return BullmqHealth(
        healthy=report.healthy,
        status=report.status,
        reasons=report.reasons,
        queues={
            name: report.accepting and named.isdisjoint(physical_names(name)) for name in SUBQUEUES
        },
    )


# -- seed 003 ------------------------------------------------------------------------------


class LaunchKitMetrics(BaseModel):
    """One queue in seed 003's ``/v1/admin/queue/metrics`` shape."""

    queue: str
    waiting: int
    active: int
    completed: int
    failed: int
    delayed: int
    total: int  #: the five counts summed
    paused: bool


class LaunchKitAll(RootModel[dict[str, LaunchKitMetrics]]):
    """Every job queue under its camel-cased name: ``{aiJobs: {...}, webhooks: {...}, ...}``."""


class LaunchKitPaused(BaseModel):
    success: Literal[True] = True
    queue: str
    paused: bool
    message: str


class LaunchKitCleaned(BaseModel):
    success: Literal[True] = True
    queue: str
    #: jobs deleted per state; each state's own retention is the grace unless ``?grace=`` (ms)
    cleaned: dict[str, int]


def seed_queue(query: dict[str, str]) -> str:
    """The ``queue`` query parameter (default ``ai-jobs``), 404 when unknown."""
    return known_queue(query.get("queue") or SEED_003_DEFAULT_QUEUE)


def _launchkit(s: QueueStats) -> LaunchKitMetrics:
    counts = (s.waiting, s.active, s.completed, s.failed, s.delayed)
    return LaunchKitMetrics(
        queue=s.queueName, waiting=s.waiting, active=s.active, completed=s.completed,
        failed=s.failed, delayed=s.delayed, total=sum(counts), paused=s.paused,
    )  # fmt: skip


def launchkit_metrics(name: str) -> LaunchKitMetrics:
    return _launchkit(stats([name])[0])


def launchkit_metrics_all() -> LaunchKitAll:
    """Every job queue, keyed by its camel-cased name (``ai-jobs`` -> ``aiJobs``)."""
    return LaunchKitAll({to_camel(s.queueName.replace("-", "_")): _launchkit(s) for s in stats()})


def launchkit_clean(name: str, query: dict[str, str]) -> LaunchKitCleaned:
    """Delete ``name``'s completed and failed jobs (or only ``?state=``) older than ``?grace=``
    ms, by default each state's retention (the seed's: completed 1 h, failed 7 days), up to
    ``?limit=`` (default 1,000) per state."""
    state = query.get("state")
    if state not in (None, "completed", "failed"):
        raise Problem(422, f"Query parameter 'state' must be completed or failed, not {state!r}.")
    grace, limit = _int_param(query, "grace"), _int_param(query, "limit")
    if limit == 0:
        raise Problem(422, "Query parameter 'limit' must be at least 1.")
    spec = QUEUES[name]
    keep = {"completed": spec.keep_completed_ms, "failed": spec.keep_failed_ms}
    cleaned = {
        s: clean(name, s, grace if grace is not None else ms, limit or 1000)  # type: ignore[arg-type]
        for s, ms in keep.items()
        if state in (None, s)
    }
    return LaunchKitCleaned(queue=name, cleaned=cleaned)


def _int_param(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) > 10**12:
        raise Problem(422, f"Query parameter {name!r} must be a whole number, not {raw!r}.")
    return int(raw)
