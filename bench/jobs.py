"""Seed-shaped SMS jobs for the job store, and the baseline's equivalent payloads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from bench.common import SEED_SMS, say
from shared.jobs.store import JobStore, NewJob, now_ms

#: Jobs per ``create_many`` call (one atomic script call each).
BATCH = 1_000


def sms_data(i: int, delay_ms: int) -> dict[str, Any]:
    """What ``POST /api/schedule-sms`` would store for the ``i``-th seed SMS."""
    return {**SEED_SMS, "contactId": f"contact-{i}", "delay": max(delay_ms, 0)}


def sms_job(i: int, due_ms: int, at_ms: int) -> NewJob:
    return NewJob(
        queue="sms",
        actor="sms",
        data=sms_data(i, due_ms - at_ms),
        due_ms=due_ms,
        max_attempts=5,
        workspace_id=SEED_SMS["workspaceId"],
        contact_id=f"contact-{i}",
    )


def insert(
    store: JobStore,
    count: int,
    due: Callable[[int, int], int],
    *,
    bench: str,
    first: int = 0,
) -> tuple[list[str], float]:
    """Create ``count`` SMS jobs in batches, job ``i`` due at ``due(i, now_ms)``.

    Returns (job ids in order, seconds taken); prints progress about every 10 %.
    """
    ids: list[str] = []
    step = max(count // 10, BATCH)
    started = time.perf_counter()
    next_report = step
    for start in range(first, first + count, BATCH):
        at = now_ms()
        batch = [
            sms_job(i, due(i, at), at) for i in range(start, min(first + count, start + BATCH))
        ]
        ids += [c.job_id for c in store.create_many(batch, at_ms=at)]
        if len(ids) >= next_report and len(ids) < count:
            rate = len(ids) / (time.perf_counter() - started)
            say(bench, f"inserted {len(ids):,}/{count:,} ({rate:,.0f} jobs/s)")
            next_report += step
    return ids, time.perf_counter() - started


def send_all(
    send: Callable[[int], None],
    indexes: Iterable[int],
    *,
    total: int,
    bench: str,
    cap_s: float | None = None,
) -> tuple[int, float]:
    """Call ``send(i)`` for each index until done or ``cap_s`` seconds passed.

    Returns (how many were sent, seconds taken); prints progress about every 10 %.
    """
    step = max(total // 10, 1000)
    started = time.perf_counter()
    sent = 0
    for i in indexes:
        send(i)
        sent += 1
        if sent % 1000 == 0:
            elapsed = time.perf_counter() - started
            if sent % step == 0:
                say(bench, f"enqueued {sent:,}/{total:,} ({sent / elapsed:,.0f} msg/s)")
            if cap_s is not None and elapsed > cap_s:
                say(bench, f"enqueue cap of {cap_s:.0f} s reached at {sent:,}")
                break
    return sent, time.perf_counter() - started
