"""What the dashboard's overview shows: every queue (counts per state, limits, throughput and
failure rate), workers and schedulers alive, Redis' memory, version and eviction policy, and
the cron schedules. Counts and counters come from one pipeline (``shared.metrics``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.cron.admin import CronList, list_all
from shared.jobs.liveness import alive
from shared.jobs.queues import QUEUES, SUBQUEUES, Rate, effective
from shared.metrics import collect
from shared.redis_client import get_redis

#: The per-state counts a queue row shows, in this order (``paused``: waiting jobs of a
#: paused queue, shown in place of ``waiting``).
STATE_COLUMNS = ("delayed", "waiting", "active", "completed", "failed", "paused")


@dataclass
class QueueRow:
    name: str
    counts: dict[str, int]
    paused: bool
    shards: int
    limits: dict[str, str]  #: rate, concurrency, workspace rate ("—" for none)
    throughput_per_min: int  #: jobs completed in the last minute
    failed_5m: int
    completed_5m: int

    @property
    def failure_rate(self) -> float | None:
        """Failed / finished over the last 5 minutes, 0 to 1; None when nothing finished."""
        done = self.failed_5m + self.completed_5m
        return self.failed_5m / done if done else None


@dataclass
class Overview:
    queues: list[QueueRow]
    workers: int
    schedulers: int
    redis: dict[str, str]
    cron: CronList | None
    cron_error: str | None = None
    warnings: list[str] = field(default_factory=list)


def _rate(rate: Rate | None) -> str:
    return f"{rate.max} / {rate.duration_ms} ms" if rate else "—"


def _redis_info() -> dict[str, str]:
    info: Any = get_redis().info()
    if info and "redis_version" not in info:  # a cluster client: one entry per node
        info = next(iter(info.values()))
    return {
        "version": str(info.get("redis_version", "?")),
        "usedMemory": str(info.get("used_memory_human", "?")),
        "maxMemory": str(info.get("maxmemory_human", "?")),
        "maxmemoryPolicy": str(info.get("maxmemory_policy", "?")),
    }


def queue_rows() -> list[QueueRow]:
    """Every configured queue, a split queue's sub-queues summed."""
    metrics = collect().queues
    rows = []
    for name, subs in SUBQUEUES.items():
        counts = dict.fromkeys(STATE_COLUMNS, 0)
        parts = [metrics[sub.name] for sub in subs if sub.name in metrics]
        paused = bool(parts) and all(m.paused for m in parts)
        for m in parts:
            for state, n in m.counts.items():
                counts[state] += n
        if paused:
            counts["paused"], counts["waiting"] = counts["waiting"], 0
        spec = effective(QUEUES[name])
        rows.append(
            QueueRow(
                name=name, counts=counts, paused=paused, shards=len(subs),
                limits={"rate": _rate(spec.limiter),
                        "concurrency": str(spec.concurrency) if spec.concurrency else "—",
                        "workspace": _rate(spec.workspace_limiter)},
                throughput_per_min=sum(m.last_1m.completed for m in parts),
                failed_5m=sum(m.last_5m.failed for m in parts),
                completed_5m=sum(m.last_5m.completed for m in parts),
            )
        )  # fmt: skip
    return rows


def overview() -> Overview:
    """The overview page's figures."""
    rows = queue_rows()
    workers, schedulers = len(alive("worker")), len(alive("scheduler"))
    try:
        cron, cron_error = list_all(), None
    except Exception as exc:  # a broken schedule table must not hide the queues
        cron, cron_error = None, f"cron schedules unavailable: {exc}"
    found = Overview(rows, workers, schedulers, _redis_info(), cron, cron_error)
    if workers == 0:
        found.warnings.append("No workers alive: jobs are stored but nothing runs them.")
    if schedulers == 0:
        found.warnings.append("No scheduler alive: delayed jobs and cron ticks do not fire.")
    if found.redis["maxmemoryPolicy"] not in ("noeviction", "?"):
        policy = found.redis["maxmemoryPolicy"]
        found.warnings.append(f"Redis maxmemory-policy is {policy}: it may evict jobs.")
    return found
