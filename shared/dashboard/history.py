"""A queue's activity over the last hour (per minute) or day (per hour), from the job store's
history buckets (``lua/_lib.lua``: counters and wait/run histograms per minute and per hour,
kept 25 hours), drawn as hand-written SVG polylines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.jobs.keys import queue_key
from shared.jobs.queues import physical_names
from shared.redis_client import get_redis, server_time_ms

Range = Literal["hour", "day"]
#: range -> (bucket code, bucket width in ms, buckets shown)
RANGES: dict[str, tuple[str, int, int]] = {"hour": ("m", 60_000, 60), "day": ("h", 3_600_000, 24)}
WIDTH, HEIGHT = 600, 120  #: the charts' drawing area, in SVG units


@dataclass(frozen=True)
class Point:
    at_ms: int  #: the bucket's start, epoch ms
    completed: int
    failed: int
    wait_p95: float | None  #: ms (upper bound of its histogram bucket), None without jobs
    run_p95: float | None


@dataclass(frozen=True)
class Chart:
    """One chart: a polyline per series, scaled to ``top``."""

    title: str
    unit: str
    top: float
    lines: dict[str, str]  #: series name -> SVG points


def p95(histogram: dict[int, int]) -> float | None:
    """The 95th percentile of a histogram (bucket b: times up to 2^(b/4) ms)."""
    total = sum(histogram.values())
    if not total:
        return None
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= 0.95 * total:
            return round(2 ** (bucket / 4), 1)
    return None  # pragma: no cover - the loop always reaches the total


def history(queue: str, span: Range = "hour") -> list[Point]:
    """``queue``'s points over ``span``, oldest first (a split queue's sub-queues summed)."""
    code, width, n = RANGES[span]
    client = get_redis()
    now = server_time_ms(client)
    buckets = [now // width - i for i in reversed(range(n))]
    names = physical_names(queue)
    pipe = client.pipeline(transaction=False)
    for name in names:
        for b in buckets:
            pipe.get(queue_key(name, "stats", code, "completed", str(b)))
            pipe.get(queue_key(name, "stats", code, "failed", str(b)))
            pipe.hgetall(queue_key(name, "stats", code, "hist", "wait", str(b)))
            pipe.hgetall(queue_key(name, "stats", code, "hist", "run", str(b)))
    replies = iter(pipe.execute())
    done, failed = [0] * n, [0] * n
    waits: list[dict[int, int]] = [{} for _ in range(n)]
    runs: list[dict[int, int]] = [{} for _ in range(n)]
    for _ in names:
        for i in range(n):
            done[i] += int(next(replies) or 0)
            failed[i] += int(next(replies) or 0)
            for into in (waits[i], runs[i]):
                for bucket, count in next(replies).items():
                    into[int(bucket)] = into.get(int(bucket), 0) + int(count)
    return [
        Point(b * width, done[i], failed[i], p95(waits[i]), p95(runs[i]))
        for i, b in enumerate(buckets)
    ]


def _points(values: list[float | None], top: float) -> str:
    step = WIDTH / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{HEIGHT - (v or 0) / top * HEIGHT:.1f}" for i, v in enumerate(values)
    )


def charts(points: list[Point]) -> list[Chart]:
    """Jobs finished (completed, failed) and wait/run p95 over ``points``."""
    count_top = max([1, *(max(p.completed, p.failed) for p in points)])
    times = [t for p in points for t in (p.wait_p95, p.run_p95) if t is not None]
    time_top = max([1.0, *times])
    return [
        Chart("Jobs finished", "jobs", count_top, {
            "completed": _points([p.completed for p in points], count_top),
            "failed": _points([p.failed for p in points], count_top),
        }),
        Chart("Wait and run time, p95", "ms", time_top, {
            "wait": _points([p.wait_p95 for p in points], time_top),
            "run": _points([p.run_p95 for p in points], time_top),
        }),
    ]  # fmt: skip
