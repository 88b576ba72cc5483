"""Draining a queue and retrying its failed jobs, against real Redis (also run on a one-node
cluster: ``--redis-cluster=single``)."""

from __future__ import annotations

from shared.jobs.keys import queue_key
from shared.jobs.store import JobStore, NewJob, now_ms


def job(due_ms: int, **extra) -> NewJob:
    fields = dict(queue="sms", actor="sms", data={"message": "hi"}, due_ms=due_ms, max_attempts=3)
    return NewJob(**(fields | extra))


def keys_naming(r, prefix: str, job_id: str) -> list[str]:
    return [k for k in r.scan_iter(match=f"{prefix}:*") if job_id in k]


def ready_keys(r, prefix: str) -> list[str]:
    return [k for k in r.scan_iter(match=f"{prefix}:*") if ":ready" in k]


def test_drain_deletes_waiting_jobs_with_their_keys_and_leaves_running_and_delayed_ones(
    r, redis_prefix
):
    store = JobStore()
    now = now_ms()
    running_id = store.create(job(now)).job_id
    running = store.start(running_id, f"{running_id}.1", "w")
    assert not isinstance(running, str)
    keyed = store.create(
        job(now, idempotency=("org.acme", "k1", "fp"), indexes=("mine",), workspace_id="ws1")
    ).job_id
    # sms runs 5 at once: 4 of these go on worker messages, the rest wait in the ready lines
    waiting = [store.create(job(now, workspace_id=f"ws{i % 3}")).job_id for i in range(9)]
    later = store.create(job(now + 60_000)).job_id
    assert store.count("sms", "waiting") == 10 and ready_keys(r, redis_prefix)

    assert store.drain("sms", batch=3) == {"waiting": 10}

    assert store.count("sms", "waiting") == 0 and store.get(keyed) is None
    for job_id in [keyed, *waiting]:
        assert keys_naming(r, redis_prefix, job_id) == [], job_id
    assert ready_keys(r, redis_prefix) == [], "no stale entry is left in the ready lines"
    assert r.zcard(queue_key("sms", "dispatched")) == 0
    assert store.id_for("org.acme", "k1") is None, "the client-chosen id is free again"
    assert r.zcard(queue_key("sms", "idx", "mine")) == 0
    assert store.start(waiting[0], f"{waiting[0]}.1", "w") == "gone", "its message is skipped"
    assert store.get(later).state == "delayed"
    assert store.finish(running, "completed"), "a running job finishes as usual"

    fresh = store.create(job(now)).job_id
    assert store.get(fresh).message_id == f"{fresh}.1", "the lines work on: dispatched at once"


def test_drain_with_delayed_also_deletes_delayed_jobs(r, redis_prefix):
    store = JobStore()
    now = now_ms()
    store.create(job(now))
    delayed = [store.create(job(now + 60_000 * (i + 1))).job_id for i in range(5)]
    assert store.drain("sms", delayed=True, batch=2) == {"waiting": 1, "delayed": 5}
    assert store.count("sms", "delayed") == 0
    assert all(keys_naming(r, redis_prefix, job_id) == [] for job_id in delayed)


def test_drain_takes_only_jobs_waiting_when_it_began(r, redis_prefix):
    store = JobStore()
    now = now_ms()
    old = store.create(job(now), at_ms=now).job_id
    newer = store.create(job(now), at_ms=now + 5_000).job_id
    assert store.drain("sms", at_ms=now + 1_000) == {"waiting": 1}
    assert store.get(old) is None and store.get(newer).state == "waiting"
    assert ready_keys(r, redis_prefix), "a waiting job is left: its line stays"


def fail(store: JobStore, job_id: str, at_ms: int | None = None) -> None:
    started = store.start(job_id, store.get(job_id).message_id, "w")
    assert not isinstance(started, str)
    assert store.finish(started, "failed", error="HTTP 500", at_ms=at_ms)


def test_retry_failed_gives_failed_jobs_fresh_attempts_and_dispatches_them(r, redis_prefix):
    store = JobStore()
    now = now_ms()
    ids = [store.create(job(now, max_attempts=1, workspace_id="ws1")).job_id for _ in range(3)]
    for job_id in ids:
        fail(store, job_id)
    assert store.count("sms", "failed") == 3

    assert store.retry_failed("sms", batch=2) == 3

    assert store.count("sms", "failed") == 0 and store.count("sms", "waiting") == 3
    for job_id in ids:
        again = store.get(job_id)
        assert (again.attempts, again.error, again.finished_at) == (0, None, None)
        assert again.message_id, "handed to a worker at once (the queue has room)"
    started = store.start(ids[0], store.get(ids[0]).message_id, "w")
    assert not isinstance(started, str) and started.attempts == 1 and started.max_attempts == 1
    assert store.finish(started, "completed")
    assert store.get(ids[0]).state == "completed"


def test_retry_failed_leaves_jobs_that_failed_after_it_began(r, redis_prefix):
    store = JobStore()
    now = now_ms()
    early, late = (store.create(job(now, max_attempts=1)).job_id for _ in range(2))
    fail(store, early, at_ms=now)
    fail(store, late, at_ms=now + 10_000)
    assert store.retry_failed("sms", at_ms=now + 5_000) == 1
    assert store.get(early).state == "waiting" and store.get(late).state == "failed"


def test_retry_failed_on_a_paused_queue_waits_for_resume(r, redis_prefix):
    store = JobStore()
    job_id = store.create(job(now_ms(), max_attempts=1)).job_id
    fail(store, job_id)
    store.pause("sms")
    assert store.retry_failed("sms") == 1
    assert store.get(job_id).message_id == "", "paused: it waits in its line"
    assert store.resume("sms") == 1 and store.get(job_id).message_id
