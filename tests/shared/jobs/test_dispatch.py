"""The dispatch step: which ready job Dramatiq gets next, and when (priority, round robin across
workspaces, rate and concurrency limits), against real Redis."""

from __future__ import annotations

import json
import time

import pytest

from shared.jobs.broker import build_broker
from shared.jobs.keys import queue_key
from shared.jobs.queues import QUEUES, Rate, effective, lua_config, ready_key
from shared.jobs.store import Finish, Job, JobStore, NewJob, Skipped, Wait, now_ms
from shared.metrics import collect
from shared.settings import settings
from tests.conftest import set_queue_limits, wait_for


def sms_job(workspace: str = "w1", priority: int = 5, **extra) -> NewJob:
    fields = dict(
        queue="sms", actor="sms", data={"message": "hi"}, due_ms=now_ms(), max_attempts=3,
        workspace_id=workspace, priority=priority,
    )  # fmt: skip
    return NewJob(**(fields | extra))


def dispatched(r, queue: str = "sms") -> list[str]:
    """Every job id in Dramatiq's queue, in queue order."""
    messages = r.hgetall(queue_key(queue, "mq", "msgs"))
    return [
        i for m in r.lrange(ready_key(queue), 0, -1) for i in json.loads(messages[m])["args"][0]
    ]


def take(r, store: JobStore, queue: str = "sms") -> list[Job | Skipped]:
    """Act as a worker: pop every message in Dramatiq's queue and start its jobs (one told to
    wait for its rate slot is asked again when that frees)."""
    started: list[Job | Skipped] = []
    messages = r.hgetall(queue_key(queue, "mq", "msgs"))
    while (msg_id := r.lpop(ready_key(queue))) is not None:
        ids = json.loads(messages[msg_id])["args"][0]
        while ids:
            replies = store.start_many(ids, msg_id, "test-worker")
            started += [j for j in replies if not isinstance(j, Wait)]
            waits = [j for j in replies if isinstance(j, Wait)]
            if waits:
                time.sleep(max(w.ms for w in waits) / 1000)
            ids = [w.job_id for w in waits]
    return started


def run_one_round(r, store: JobStore) -> list[str]:
    """Start whatever is dispatched, complete it; the ids started, in order."""
    jobs = [j for j in take(r, store) if isinstance(j, Job)]
    store.finish_many([Finish(j, "completed") for j in jobs])
    return [j.id for j in jobs]


def test_a_higher_priority_job_starts_before_every_waiting_lower_one(r, redis_prefix, monkeypatch):
    set_queue_limits(monkeypatch, sms={"limiter": None, "concurrency": 2})
    store = JobStore()
    bulk = [c.job_id for c in store.create_many([sms_job() for _ in range(50)])]
    urgent = store.create(sms_job(priority=1)).job_id
    low = store.create(sms_job(priority=9)).job_id
    assert dispatched(r) == bulk[:2], "two slots: the first two bulk jobs took them"
    order = []
    while len(order) < 52:
        order += run_one_round(r, store)
    assert order[:3] == [*bulk[:2], urgent]
    assert order[3:51] == bulk[2:] and order[51] == low, "FIFO within a priority"


def test_workspaces_take_turns_so_a_campaign_cannot_starve_a_single_message(
    r, redis_prefix, monkeypatch
):
    set_queue_limits(monkeypatch, sms={"limiter": None, "concurrency": 1})
    store = JobStore()
    campaign = [c.job_id for c in store.create_many([sms_job("A") for _ in range(1000)])]
    single = store.create(sms_job("B")).job_id
    other = [c.job_id for c in store.create_many([sms_job("C") for _ in range(2)])]
    order = []
    while len(order) < 6:
        order += run_one_round(r, store)
    assert order == [campaign[0], campaign[1], single, other[0], campaign[2], other[1]]


def test_the_rate_limit_holds_jobs_back_until_the_window_frees_and_never_counts_an_attempt(
    r, redis_prefix, monkeypatch
):
    set_queue_limits(
        monkeypatch, sms={"limiter": {"max": 3, "duration_ms": 400}, "concurrency": None}
    )
    store = JobStore()
    ids = [c.job_id for c in store.create_many([sms_job() for _ in range(7)])]
    first = run_one_round(r, store)
    assert first == ids[:3]
    store.promote_due("sms")  # the scheduler's pass: the window is still full
    assert dispatched(r) == []
    assert {store.get(i).state for i in ids[3:]} == {"waiting"}  # type: ignore[union-attr]
    second = wait_for(lambda: store.promote_due("sms") is not None and run_one_round(r, store))
    assert second == ids[3:6]
    started = sorted(store.get(i).started_at for i in ids[:6])  # type: ignore[union-attr,type-var]
    assert started[3] - started[0] >= 400, "no 400 ms window holds more than 3 starts"
    held = [store.get(i) for i in ids[3:]]
    assert all(j.attempts <= 1 and j.error is None for j in held)  # type: ignore[union-attr]
    sms = collect(store).queues["sms"]
    assert sms.last_1m.deferred == 4 and sms.last_1m.retried == sms.last_1m.failed == 0


def test_a_start_that_would_break_the_limit_waits_at_the_front_unattempted(
    r, redis_prefix, monkeypatch
):
    set_queue_limits(monkeypatch, sms={"limiter": {"max": 2, "duration_ms": 60_000}})
    store = JobStore()
    _, second = (c.job_id for c in store.create_many([sms_job(), sms_job()]))
    later = store.create(sms_job()).job_id
    # another process started a job of this queue behind the dispatcher's back
    now_us = int(r.time()[0]) * 1_000_000
    r.zadd(queue_key("sms", "starts"), {"elsewhere:1": now_us})
    started = take(r, store)
    assert isinstance(started[0], Job) and started[1] == Skipped(second, "rate limit")
    job = store.get(second)
    assert job.state == "waiting" and job.attempts == 0 and job.message_id == ""  # type: ignore[union-attr]
    line = r.lrange(queue_key("sms", "ready", "5", "w1"), 0, -1)
    assert line == [second, later], "it keeps its turn"
    assert collect(store).queues["sms"].last_1m.deferred == 2  # `later` at create, `second` now


def test_concurrency_counts_jobs_running_on_every_worker(r, redis_prefix, monkeypatch):
    set_queue_limits(monkeypatch, sms={"limiter": None, "concurrency": 3})
    store = JobStore()
    ids = [c.job_id for c in store.create_many([sms_job() for _ in range(10)])]
    running = [j for j in take(r, store) if isinstance(j, Job)]
    assert [j.id for j in running] == ids[:3] and store.count("sms", "active") == 3
    store.promote_due("sms")
    assert dispatched(r) == [], "no slot until one finishes"
    store.finish_many([Finish(running[0], "completed")])
    assert dispatched(r) == [ids[3]], "a finish hands its slot on at once"


def test_a_workspace_limit_holds_back_only_that_workspace(r, redis_prefix, monkeypatch):
    set_queue_limits(
        monkeypatch,
        sms={
            "limiter": None,
            "concurrency": 10,
            "workspace_limiter": {"max": 2, "duration_ms": 60_000},
        },
    )
    store = JobStore()
    a = [c.job_id for c in store.create_many([sms_job("A") for _ in range(5)])]
    b = store.create(sms_job("B")).job_id
    assert run_one_round(r, store) == [a[0], a[1], b]
    store.promote_due("sms")
    assert dispatched(r) == [] and store.count("sms", "waiting") == 3


def test_pause_holds_ready_jobs_and_resume_dispatches_within_the_limits(
    r, redis_prefix, monkeypatch
):
    set_queue_limits(monkeypatch, sms={"limiter": None, "concurrency": 2})
    store = JobStore()
    store.pause("sms")
    ids = [c.job_id for c in store.create_many([sms_job() for _ in range(5)])]
    assert dispatched(r) == [] and store.count("sms", "waiting") == 5
    assert store.resume("sms") == 2 and dispatched(r) == ids[:2]


def test_cancelling_a_dispatched_job_frees_its_slot(r, redis_prefix, monkeypatch):
    set_queue_limits(monkeypatch, sms={"limiter": None, "concurrency": 1})
    store = JobStore()
    first, second = (c.job_id for c in store.create_many([sms_job(), sms_job()]))
    assert store.cancel(first) == "cancelled"
    store.promote_due("sms")
    assert dispatched(r)[-1] == second


def test_queue_limits_come_from_the_table_and_the_env_override(monkeypatch):
    assert effective(QUEUES["sms"]).limiter == Rate(50, 1000)
    assert effective(QUEUES["sms"]).concurrency == 5
    set_queue_limits(
        monkeypatch, sms={"concurrency": None}, email={"limiter": {"max": 7, "duration_ms": 10}}
    )
    assert effective(QUEUES["sms"]).concurrency is None
    assert effective(QUEUES["sms"]).limiter == Rate(50, 1000), "a field left out keeps its default"
    email, sms = json.loads(lua_config("email")), json.loads(lua_config("sms"))
    assert email["rate"] == [7, 10_000] and sms["cap"] == settings.dispatch_ahead
    set_queue_limits(monkeypatch, smss={"concurrency": 1})
    with pytest.raises(ValueError, match=r"unknown queue.*smss"):
        lua_config("sms")


def test_a_rate_limited_job_reaches_a_worker_early_and_starts_on_its_slot_exactly(
    r, redis_prefix, monkeypatch
):
    set_queue_limits(monkeypatch, sms={"limiter": {"max": 2, "duration_ms": 200}})
    store = JobStore()
    ids = [c.job_id for c in store.create_many([sms_job() for _ in range(3)])]
    first = [j for j in take(r, store) if isinstance(j, Job)]
    assert [j.id for j in first] == ids[:2]
    wait_for(lambda: store.promote_due("sms") is not None and dispatched(r), what="a hand-over")
    handed = int(r.hget(queue_key("sms", "job", ids[2]), "dispatchedAt"))
    slot = first[0].started_at + 200  # type: ignore[operator]
    assert slot - 60 <= handed < slot, "handed over within the lead time before its slot"
    msg_id = r.lpop(ready_key("sms"))
    (early,) = store.start_many([ids[2]], msg_id, "w")
    assert isinstance(early, Wait) and 0 < early.ms <= 60
    time.sleep(early.ms / 1000)
    (third,) = store.start_many([ids[2]], msg_id, "w")
    assert isinstance(third, Job) and slot <= third.started_at <= slot + 20  # type: ignore[operator]
    assert collect(store).queues["sms"].last_1m.retried == 0


def test_a_job_a_worker_holds_unstarted_too_long_gives_its_slot_back(r, redis_prefix, monkeypatch):
    set_queue_limits(monkeypatch, sms={"limiter": None, "concurrency": 1})
    monkeypatch.setattr(settings, "heartbeat_ttl_s", 0.05)
    store = JobStore()
    job_id = store.create(sms_job()).job_id
    (held,) = r.lrange(ready_key("sms"), 0, -1)
    time.sleep(0.1)  # longer than HEARTBEAT_TTL_S: a message no worker took is only waiting
    assert store.recover("sms", alive=[]) == [], "still in the queue's list: not lost"
    consumer = build_broker().consume("sms", prefetch=1, timeout=50)
    assert next(m for m in consumer if m is not None).message_id == held  # taken, then silence
    assert store.recover("sms", alive=[]) == [], "not held long yet"
    assert wait_for(lambda: store.recover("sms", alive=[])) == [job_id]
    again = store.get(job_id)
    assert again.state == "waiting" and again.message_id not in ("", held)  # type: ignore[union-attr]
    assert store.start(job_id, held, "w") == "stale message"
    assert isinstance(store.start(job_id, again.message_id, "w"), Job)  # type: ignore[union-attr]


def test_a_request_write_waits_for_a_slot_of_the_send_window_beyond_the_limits_window(
    r, redis_prefix, monkeypatch
):
    set_queue_limits(monkeypatch, sms={"limiter": {"max": 2, "duration_ms": 1000}})
    store = JobStore()
    store.create(sms_job())
    (job,) = [j for j in take(r, store) if isinstance(j, Job)]
    assert store.send_slot(job, "w1") == 0 and store.send_slot(job, "w2") == 0
    wait_ms = store.send_slot(job, "w3")
    # the third write of a 2-per-second queue waits out the second plus the 4 % margin (40 ms)
    assert 1000 < wait_ms <= 1040, wait_ms
    assert r.zcard(queue_key("sms", "sends")) == 2, "a refused write takes no slot"


def test_the_runner_gates_writes_only_on_rate_limited_queues(monkeypatch):
    from shared.jobs.runner import send_gate

    job = Job("j", "sms", "sms", "active", {}, {}, 1, 3, 0, 0)
    assert send_gate(QUEUES["sms"], job) is not None
    assert send_gate(QUEUES["webhooks"], job) is None
    set_queue_limits(monkeypatch, sms={"limiter": None})
    assert send_gate(QUEUES["sms"], job) is None
