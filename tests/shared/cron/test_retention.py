"""``retention``: finished jobs past their queue's retention go, the others stay, and the
run says how many went from which queue."""

from __future__ import annotations

from functions.cron import retention
from shared.jobs.queues import DAY_MS, HOUR_MS
from shared.jobs.store import JobStore, NewJob, now_ms
from tests.conftest import load_event

EVENT = load_event("scheduled_health_check")


def finished(queue: str, outcome: str, ago_ms: int) -> str:
    store = JobStore()
    job_id = store.create(
        NewJob(queue=queue, actor=queue, data={}, due_ms=now_ms(), max_attempts=1)
    ).job_id
    running = store.start(job_id, f"{job_id}.1", "w")
    assert store.finish(running, outcome, error="x", at_ms=now_ms() - ago_ms)  # type: ignore[arg-type]
    return job_id


def test_jobs_past_their_queues_retention_are_deleted_and_counted(
    redis_prefix: str, unlimited: None
):
    store = JobStore()
    old = [finished("sms", "completed", 2 * HOUR_MS) for _ in range(2)]
    recent = finished("sms", "completed", 60_000)
    old_failure = finished("email", "failed", 8 * DAY_MS)
    recent_failure = finished("email", "failed", 2 * HOUR_MS)  # failed jobs are kept 7 days
    result = retention.handler(EVENT, None)
    assert result["removed"]["sms"] == {"completed": 2, "failed": 0}
    assert result["removed"]["email"] == {"completed": 0, "failed": 1}
    assert result["total"] == 3 and result["scheduledAt"] == EVENT["time"]
    assert all(store.get(job_id) is None for job_id in [*old, old_failure])
    assert store.get(recent) is not None and store.get(recent_failure) is not None
    assert retention.handler(EVENT, None)["total"] == 0
