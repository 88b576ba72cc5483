"""Queue limits across several worker processes: exact rate and concurrency, priorities and
fair share, and a limited job never counted as failed or retried."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from bench.limits import max_in_window
from shared.jobs.due import DueJobs
from shared.jobs.store import Job, JobStore, NewJob, now_ms
from shared.metrics import collect
from tests.conftest import set_queue_limits, wait_for
from tests.functions.conftest import sms
from tests.functions.test_worker_crash import start_worker
from tests.servers import Receiver

LIMITS = {
    "limiter": {"max": 10, "duration_ms": 500},
    "concurrency": 3,
    "workspace_limiter": None,
}


@pytest.fixture
def limited_workers(
    redis_prefix: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[JobStore]:
    """4 ``qs worker`` processes and a scheduler loop; SMS: 10 per 500 ms, 3 at once."""
    set_queue_limits(monkeypatch, sms=LIMITS)
    receiver.delay_s = 0.05  # each callback takes a while, so concurrency shows
    workers = start_worker(receiver, processes=4, QUEUE_LIMITS=json.dumps({"sms": LIMITS}))
    due = DueJobs()
    loop = threading.Thread(target=due.run, daemon=True)
    loop.start()
    try:
        yield JobStore()
    finally:
        due.stop()
        loop.join(timeout=5)
        os.killpg(workers.pid, signal.SIGTERM)
        workers.wait(timeout=30)


def max_overlap(spans: list[tuple[int, int]]) -> int:
    """The most ``(start, end)`` spans open at one instant."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


def test_rate_and_concurrency_hold_across_four_worker_processes(
    limited_workers: JobStore, receiver: Receiver
):
    store = limited_workers
    jobs = [
        NewJob(queue="sms", actor="sms", data=sms(message=f"m{i}"), due_ms=now_ms(),
               max_attempts=5, workspace_id=f"w{i % 2}")
        for i in range(40)
    ]  # fmt: skip
    ids = [c.job_id for c in store.create_many(jobs)]

    def finished() -> list[Job] | None:
        done = [store.get(i) for i in ids]
        return done if all(j and j.state == "completed" for j in done) else None  # type: ignore[misc]

    done = wait_for(finished, 30, "all 40 delivered")
    starts = [j.started_at for j in done]
    assert max_in_window(starts, 500) <= 10
    assert max_overlap([(j.started_at, j.finished_at) for j in done]) <= 3
    assert all(j.attempts == 1 and j.error is None for j in done)
    assert len(receiver.to("/send-sms")) == 40
    sms_metrics = collect(store).queues["sms"]
    assert sms_metrics.last_1m.retried == sms_metrics.last_1m.failed == 0
    assert sms_metrics.last_1m.deferred > 0 and sms_metrics.last_1m.completed == 40


def test_a_priority_job_and_another_workspace_overtake_a_waiting_campaign(
    limited_workers: JobStore, receiver: Receiver
):
    store = limited_workers
    campaign = [
        NewJob(queue="sms", actor="sms", data=sms(message=f"c{i}"), due_ms=now_ms(),
               max_attempts=5, workspace_id="A")
        for i in range(200)
    ]  # fmt: skip
    store.create_many(campaign)
    wait_for(lambda: store.count("sms", "completed") >= 5, 10, "the campaign under way")
    urgent = store.create(
        NewJob(queue="sms", actor="sms", data=sms(message="urgent"), due_ms=now_ms(),
               max_attempts=5, workspace_id="A", priority=1)
    ).job_id  # fmt: skip
    other = store.create(
        NewJob(queue="sms", actor="sms", data=sms(message="other"), due_ms=now_ms(),
               max_attempts=5, workspace_id="B")
    ).job_id  # fmt: skip
    submitted = now_ms()
    for job_id in (urgent, other):
        wait_for(lambda j=job_id: store.get(j).state == "completed", 10, f"{job_id} delivered")  # type: ignore[union-attr]
    # Only jobs already handed to a worker (at most the concurrency, 3) may start between.
    for job_id in (urgent, other):
        started = store.get(job_id).started_at  # type: ignore[union-attr]
        before = [
            c for c in receiver.to("/send-sms")
            if c.json()["message"].startswith("c")
        ]  # fmt: skip
        overtaken = [
            j for j in (store.get(c.json()["jobId"]) for c in before)
            if j and submitted <= j.started_at < started  # type: ignore[operator]
        ]  # fmt: skip
        assert len(overtaken) <= 3 + 1, f"{len(overtaken)} campaign jobs started first"
