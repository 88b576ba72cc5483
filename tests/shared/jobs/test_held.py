"""Jobs due soon staged on held messages ahead of time (``DUE_AHEAD_MS``), released when due."""

from __future__ import annotations

import json

from shared.jobs.due import HOLD_GROUP_MS, DueJobs
from shared.jobs.keys import queue_key
from shared.jobs.queues import ready_key
from shared.jobs.store import JobStore, NewJob, now_ms
from shared.settings import settings
from tests.conftest import set_queue_limits

AHEAD_MS = 200


def job(due_ms: int) -> NewJob:
    return NewJob(queue="sms", actor="sms", data={"m": 1}, due_ms=due_ms, max_attempts=3)


def listed(r) -> list[list[str]]:
    """The job ids of each message on the sms queue's list, in order."""
    bodies = r.hgetall(queue_key("sms", "mq", "msgs"))
    return [json.loads(bodies[m])["args"][0] for m in r.lrange(ready_key("sms"), 0, -1)]


def held(r) -> list[tuple[str, float]]:
    return r.zrange(queue_key("sms", "mq", "held"), 0, -1, withscores=True)


def promote(store: JobStore, at: int) -> int:
    return store.promote_due("sms", at_ms=at, ahead_ms=AHEAD_MS, limit=100)


def test_jobs_due_soon_wait_on_a_held_message_until_their_time(r, redis_prefix, unlimited):
    store = JobStore()
    now = now_ms()
    soon = [store.create(job(now + 100), at_ms=now).job_id for _ in range(3)]
    later = store.create(job(now + 2 * AHEAD_MS), at_ms=now).job_id
    assert promote(store, now) == 3
    assert listed(r) == [], "nothing reaches a worker before it is due"
    assert [score for _, score in held(r)] == [now + 100]
    record = store.get(soon[0])
    assert record.state == "waiting" and store.get(later).state == "delayed"
    raw = r.hget(queue_key("sms", "job", soon[0]), "enqueuedAt")
    assert int(raw) == now + 100, "its wait is counted from its due time, not from staging"
    assert promote(store, now + 99) == 0 and listed(r) == []
    promote(store, now + 100)
    assert [sorted(m) for m in listed(r)] == [sorted(soon)] and held(r) == []
    assert store.start(soon[0], r.hget(queue_key("sms", "job", soon[0]), "msg"), "w").state == (
        "active"
    )


def test_due_times_a_few_ms_apart_share_a_message_held_until_the_last(r, redis_prefix, unlimited):
    store = JobStore()
    now = now_ms()
    dues = [now + 50, now + 50 + HOLD_GROUP_MS, now + 50 + 3 * HOLD_GROUP_MS]
    ids = [store.create(job(due), at_ms=now).job_id for due in dues]
    store.promote_due_many(["sms"], at_ms=now, ahead_ms=AHEAD_MS, group_ms=HOLD_GROUP_MS)
    assert [score for _, score in held(r)] == [dues[1], dues[2]]
    promote(store, dues[1])
    assert listed(r) == [ids[:2]], "the first two together, once the second is due"
    promote(store, dues[2])
    assert listed(r) == [ids[:2], ids[2:]]


def test_a_staged_job_cancelled_before_its_time_is_never_run(r, redis_prefix, unlimited):
    store = JobStore()
    now = now_ms()
    job_id = store.create(job(now + 100), at_ms=now).job_id
    promote(store, now)
    msg = r.hget(queue_key("sms", "job", job_id), "msg")
    assert store.cancel(job_id) == "cancelled"
    promote(store, now + 100)
    assert listed(r) == [[job_id]]
    assert store.start(job_id, msg, "w") == "gone"
    assert store.count("sms", "waiting") == 0 and r.zcard(queue_key("sms", "dispatched")) == 0


def test_a_drain_of_waiting_and_delayed_jobs_takes_the_staged_ones(r, redis_prefix, unlimited):
    store = JobStore()
    now = now_ms()
    staged = store.create(job(now + 100), at_ms=now).job_id
    store.create(job(now + 60_000), at_ms=now)
    promote(store, now)
    assert store.drain("sms", delayed=True, at_ms=now) == {"delayed": 1, "waiting": 1}
    assert store.get(staged) is None and store.count("sms", "waiting") == 0


def test_queues_with_limits_or_paused_are_not_staged(r, redis_prefix, monkeypatch):
    store = JobStore()
    now = now_ms()
    set_queue_limits(monkeypatch, sms={"limiter": {"max": 5, "duration_ms": 1000}})
    limited = store.create(job(now + 100), at_ms=now).job_id
    assert promote(store, now) == 0 and store.get(limited).state == "delayed"
    set_queue_limits(monkeypatch, sms={"limiter": None, "concurrency": None})
    store.pause("sms")
    assert promote(store, now) == 0 and store.get(limited).state == "delayed"
    store.resume("sms")
    assert promote(store, now) == 1 and held(r)


def test_staging_stops_where_the_dispatch_cap_has_no_room_for_a_whole_group(
    r, redis_prefix, unlimited, monkeypatch
):
    monkeypatch.setattr(settings, "dispatch_ahead", 4)
    store = JobStore()
    now = now_ms()
    early = [store.create(job(now + 100), at_ms=now).job_id for _ in range(3)]
    late = [store.create(job(now + 150), at_ms=now).job_id for _ in range(3)]
    assert promote(store, now) == 3
    assert [s.state for s in map(store.get, late)] == ["delayed"] * 3
    promote(store, now + 100)
    assert [sorted(m) for m in listed(r)] == [sorted(early)]


def test_the_scheduler_wakes_when_a_held_message_is_due(r, redis_prefix, unlimited, monkeypatch):
    monkeypatch.setattr(settings, "due_poll_interval_ms", 10)
    monkeypatch.setattr(settings, "due_ahead_ms", AHEAD_MS)
    store = JobStore()
    due = DueJobs(store=store)
    due.promote()
    assert due.next_due_in_ms is None and due.pause_s() == 0.01
    store.create(job(now_ms() + 100))
    due.promote()
    assert due.next_due_in_ms is not None and 0 < due.next_due_in_ms <= 100
    assert due.pause_s() == min(10, max(due.next_due_in_ms, 1)) / 1000


def test_the_soonest_due_time_is_kept_across_the_passes_of_a_backlog(
    r, redis_prefix, unlimited, monkeypatch
):
    monkeypatch.setattr(settings, "due_ahead_ms", AHEAD_MS)
    store = JobStore()
    now = now_ms()
    store.create_many([job(now) for _ in range(150)], at_ms=now - 1000)  # due: two passes
    store.create(job(now + 120_000), at_ms=now)  # what sms's second pass sees next
    store.create(NewJob(queue="email", actor="email", data={}, due_ms=now + 60_000, max_attempts=1))
    due = DueJobs(store=store)
    due.promote()
    assert due.next_due_in_ms is not None and due.next_due_in_ms <= 60_000
