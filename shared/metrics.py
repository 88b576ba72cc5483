"""Queue metrics (the seed's "batch performance" monitoring), read in one Redis round trip.

Per queue: jobs per state, jobs started/completed/failed/retried/deferred in the last 1 and 5
minutes (deferred: ready jobs a rate or concurrency limit made wait for a free slot),
throughput, and wait time (ready → started) and run time (started → finished) percentiles
over the last 1,000 jobs. The counters are written by the job store's Lua scripts, in
10-second buckets kept 10 minutes. They cover every organisation: the routes serving them are
for operators only (``auth="operator"``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.jobs.queues import JOB_QUEUES
from shared.jobs.store import STATES, JobStore

#: Width of one counter bucket, in milliseconds (as in ``shared/jobs/lua/_lib.lua``).
BUCKET_MS = 10_000
#: Events counted per queue.
EVENTS = ("started", "completed", "failed", "retried", "deferred")


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Percentiles(_Camel):
    p50: float | None  #: milliseconds
    p95: float | None  #: milliseconds


class Window(_Camel):
    started: int
    completed: int
    failed: int
    retried: int
    deferred: int  #: jobs that had to wait for a free slot (never counted as failed or retried)


class QueueMetrics(_Camel):
    paused: bool
    counts: dict[str, int]  #: jobs per state
    last_1m: Window = Field(alias="last1m")
    last_5m: Window = Field(alias="last5m")
    throughput_per_s: float  #: jobs completed per second over the last minute
    wait_ms: Percentiles  #: ready → started, last 1,000 jobs
    run_ms: Percentiles  #: started → finished, last 1,000 jobs


class Metrics(_Camel):
    success: bool = True
    generated_at_ms: int
    queues: dict[str, QueueMetrics]
    #: the ``health-check`` cron function's last result (set by ``GET /api/metrics``)
    last_check: dict[str, Any] | None = None


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def collect(store: JobStore | None = None, *, at_ms: int | None = None) -> Metrics:
    """Every job queue's metrics, from one pipeline."""
    store = store or JobStore()
    now = at_ms if at_ms is not None else time.time_ns() // 1_000_000
    bucket = now // BUCKET_MS
    buckets_5m = [bucket - i for i in range(30)]  # this bucket and the 29 before: 5 minutes
    pipe = store.client.pipeline(transaction=False)
    for spec in JOB_QUEUES:
        for state in STATES:
            pipe.zcard(store.qkey(spec.name, "jobs", state))
        for event in EVENTS:  # one GET each: a cluster pipeline takes no MGET
            for b in buckets_5m:
                pipe.get(store.qkey(spec.name, "stats", event, str(b)))
        pipe.lrange(store.qkey(spec.name, "stats", "wait"), 0, -1)
        pipe.lrange(store.qkey(spec.name, "stats", "run"), 0, -1)
    for spec in JOB_QUEUES:
        pipe.exists(store.qkey(spec.name, "paused"))
    results = pipe.execute()
    replies = iter(results)
    paused = {
        spec.name for spec, on in zip(JOB_QUEUES, results[-len(JOB_QUEUES) :], strict=True) if on
    }
    queues = {}
    for spec in JOB_QUEUES:
        counts = {state: int(next(replies)) for state in STATES}
        per_event = {e: [int(next(replies) or 0) for _ in buckets_5m] for e in EVENTS}
        waits = [float(v) for v in next(replies)]
        runs = [float(v) for v in next(replies)]
        last_1m = Window(**{e: sum(v[:6]) for e, v in per_event.items()})
        queues[spec.name] = QueueMetrics(
            paused=spec.name in paused,
            counts=counts,
            last_1m=last_1m,
            last_5m=Window(**{e: sum(v) for e, v in per_event.items()}),
            throughput_per_s=round(last_1m.completed / 60, 2),
            wait_ms=Percentiles(p50=percentile(waits, 50), p95=percentile(waits, 95)),
            run_ms=Percentiles(p50=percentile(runs, 50), p95=percentile(runs, 95)),
        )
    return Metrics(generated_at_ms=now, queues=queues)


def prometheus_text(metrics: Metrics) -> bytes:
    """The same figures in Prometheus' text exposition format (gauges; windows as labels)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    class Snapshot:
        def collect(self) -> Iterator[GaugeMetricFamily]:
            jobs = GaugeMetricFamily(
                "qs_jobs", "Jobs per queue and state", labels=["queue", "state"]
            )
            events = GaugeMetricFamily(
                "qs_job_events", "Jobs started/completed/failed/retried/deferred, recent window",
                labels=["queue", "event", "window"],
            )  # fmt: skip
            throughput = GaugeMetricFamily(
                "qs_throughput_per_second",
                "Jobs completed per second, last minute",
                labels=["queue"],
            )
            timing = GaugeMetricFamily(
                "qs_job_time_milliseconds", "Wait and run time percentiles, last 1,000 jobs",
                labels=["queue", "kind", "quantile"],
            )  # fmt: skip
            for name, q in metrics.queues.items():
                for state, n in q.counts.items():
                    jobs.add_metric([name, state], n)
                for window, counts in (("1m", q.last_1m), ("5m", q.last_5m)):
                    for event in EVENTS:
                        events.add_metric([name, event, window], getattr(counts, event))
                throughput.add_metric([name], q.throughput_per_s)
                for kind, pct in (("wait", q.wait_ms), ("run", q.run_ms)):
                    for quantile, value in (("0.5", pct.p50), ("0.95", pct.p95)):
                        if value is not None:
                            timing.add_metric([name, kind, quantile], value)
            yield from (jobs, events, throughput, timing)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot())
    return generate_latest(registry)
