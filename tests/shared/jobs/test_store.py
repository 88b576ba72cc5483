"""The job store's atomic transitions, against real Redis."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from local.embedded_redis import EmbeddedRedis
from shared.jobs.keys import queue_key
from shared.jobs.queues import queue_of, ready_key
from shared.jobs.store import Finish, FollowUp, JobStore, NewJob, Skipped, new_job_id, now_ms
from shared.settings import settings


def job(due_ms: int, **extra) -> NewJob:
    fields = dict(queue="sms", actor="sms", data={"message": "hi"}, due_ms=due_ms, max_attempts=3)
    return NewJob(**(fields | extra))


def queued_job_ids(r) -> list[str]:
    """Every job id carried by the messages in Dramatiq's ``sms`` queue, in queue order."""
    messages = r.hgetall(queue_key("sms", "mq", "msgs"))
    return [
        i for m in r.lrange(ready_key("sms"), 0, -1) for i in json.loads(messages[m])["args"][0]
    ]


def test_job_ids_are_unique_and_sort_by_creation_time():
    ids = [new_job_id("S", at_ms=1_000 + i // 10) for i in range(100)]
    assert len(set(ids)) == 100 and all(len(i) == 27 for i in ids)
    assert sorted(ids, key=lambda i: i[:11]) == ids


def test_a_job_id_is_its_queues_code_then_a_ulid_whose_first_ten_digits_spell_its_time():
    crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    at_ms = 1_469_918_176_385  # the ULID spec's example time: 01ARYZ6S41
    job_id = new_job_id("S", at_ms=at_ms)
    assert job_id[:11] == "S01ARYZ6S41" and queue_of(job_id) == "sms"
    value = 0
    for digit in job_id[1:]:
        value = value * 32 + crockford.index(digit)
    assert value >> 80 == at_ms and value < 2**128


def test_the_random_digits_of_ids_are_uniform_and_never_repeat_across_threads_or_a_fork():
    import collections
    import os

    from shared.jobs.keys import RANDOM_BUFFER_BYTES, ulid

    made: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out += [ulid(5) for _ in range(RANDOM_BUFFER_BYTES)]  # several buffers each

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [i for out in made for i in out]
    assert len(set(ids)) == len(ids) and {i[:10] for i in ids} == {"0000000005"}
    counts = collections.Counter(digit for i in ids for digit in i[10:])
    assert len(counts) == 32  # every digit, each near 1/32 of the 16 x 16,384
    assert max(counts.values()) < 1.1 * min(counts.values())
    # a forked child (the worker supervisor, the dev fork server) must not reuse the bytes its
    # parent holds: the same millisecond would give both the same id
    ulid(5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, ",".join(ulid(5) for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        theirs = pipe.read().split(",")
    ours = [ulid(5) for _ in range(100)]
    assert len(theirs) == 100 and not set(theirs) & set(ours)


def test_a_due_job_goes_straight_to_the_dramatiq_queue_and_a_later_one_waits(r, redis_prefix):
    store = JobStore()
    now = now_ms()
    ready = store.create(job(now), at_ms=now).job_id
    later = store.create(job(now + 60_000), at_ms=now).job_id
    assert store.get(ready).state == "waiting" and store.get(later).state == "delayed"
    assert r.lrange(ready_key("sms"), 0, -1) == [f"{ready}.1"]
    assert queued_job_ids(r) == [ready]
    assert r.zscore(queue_key("sms", "jobs", "delayed"), later) == now + 60_000


def test_concurrent_schedulers_move_each_due_job_exactly_once(
    r, redis_prefix, unlimited, monkeypatch
):
    monkeypatch.setattr(settings, "dispatch_ahead", 5000)
    store = JobStore()
    now = now_ms()
    created = store.create_many([job(now + 1 + i % 50) for i in range(3000)], at_ms=now)
    moved: list[int] = []

    def scheduler() -> None:
        for _ in range(20):
            moved.append(store.promote_due("sms", limit=100, at_ms=now + 100))

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queued = queued_job_ids(r)
    assert sum(moved) == 3000 == len(queued)
    assert sorted(queued) == sorted(c.job_id for c in created)
    assert store.count("sms", "delayed") == 0 and store.count("sms", "waiting") == 3000


def test_create_many_is_all_or_nothing_on_an_idempotency_conflict(r, redis_prefix):
    store = JobStore()
    now = now_ms()
    first = store.create(job(now + 9_000, idempotency=("scope", "k1", "fp-a")), at_ms=now)
    batch = [job(now + 9_000), job(now + 9_000, idempotency=("scope", "k1", "fp-b"))]
    result = store.create_many(batch, at_ms=now)
    assert [(c.status, c.job_id, c.index) for c in result] == [("conflict", first.job_id, 1)]
    assert store.count("sms", "delayed") == 1
    replay = store.create(job(now + 9_000, idempotency=("scope", "k1", "fp-a")), at_ms=now)
    assert (replay.status, replay.job_id) == ("existing", first.job_id)


def test_only_the_current_message_may_start_or_finish_a_job(redis_prefix):
    store = JobStore()
    job_id = store.create(job(now_ms())).job_id
    assert store.start(job_id, "someone-else.9", "w1") == "stale message"
    running = store.start(job_id, f"{job_id}.1", "w1")
    assert not isinstance(running, str) and running.state == "active" and running.attempts == 1
    assert store.finish(running, "delayed", error="HTTP 500", due_ms=now_ms() + 50)
    assert not store.finish(running, "completed"), "a finished attempt cannot finish twice"
    assert store.promote_due("sms", at_ms=now_ms() + 100) == 1
    again = store.start(job_id, f"{job_id}.2", "w1")
    assert not isinstance(again, str) and again.attempts == 2 and again.error == "HTTP 500"
    assert store.finish(again, "completed", result={"status": 200})
    done = store.get(job_id)
    assert done.state == "completed" and done.result == {"status": 200} and done.finished_at


def test_due_jobs_travel_in_messages_of_at_most_delivery_batch_jobs(
    r, redis_prefix, unlimited, monkeypatch
):
    monkeypatch.setattr(settings, "delivery_batch", 4)
    store = JobStore()
    now = now_ms()
    ids = [c.job_id for c in store.create_many([job(now) for _ in range(10)], at_ms=now)]
    messages = r.lrange(ready_key("sms"), 0, -1)
    assert len(messages) == 3 and queued_job_ids(r) == ids
    first = store.start_many(ids[:4], messages[0], "w")
    assert all(not isinstance(j, Skipped) and j.state == "active" for j in first)
    assert store.start_many(ids[4:6], messages[0], "w") == [
        Skipped(ids[4], "stale message"),
        Skipped(ids[5], "stale message"),
    ]
    done = [Finish(j, "completed") for j in first[:3]] + [Finish(first[3], "requeue")]
    assert store.finish_many(done) == 4  # type: ignore[arg-type]
    handed_back = store.get(ids[3])
    assert handed_back.state == "waiting" and handed_back.attempts == 0
    assert handed_back.message_id not in messages


def test_a_cancelled_job_is_skipped_by_the_worker_that_takes_its_message(redis_prefix):
    store = JobStore()
    job_id = store.create(job(now_ms())).job_id
    assert store.cancel(job_id) == "cancelled"
    assert store.start(job_id, f"{job_id}.1", "w1") == "gone"
    assert store.cancel(job_id) == "missing"


def test_active_jobs_of_a_dead_worker_are_re_enqueued_or_failed_on_their_last_try(r, redis_prefix):
    store = JobStore()
    retried = store.create(job(now_ms())).job_id
    last = store.create(job(now_ms(), max_attempts=1)).job_id
    for job_id in (retried, last):
        store.start(job_id, f"{job_id}.1", "dead-host:1")
    assert sorted(store.recover("sms", alive=["live-host:2"], notify=True)) == sorted(
        [retried, last]
    )
    assert store.get(retried).state == "waiting" and store.get(retried).message_id == f"{retried}.2"
    assert store.get(last).state == "failed" and "died" in store.get(last).error
    assert store.start(retried, f"{retried}.1", "w") == "stale message"
    assert store.drain_outbox("sms") == 1, "the notice waits in the failed job's queue's outbox"
    (notice_id,) = store.ids("failure-notices", "waiting")
    assert notice_id == f"F{last}", "its id is chosen when the job fails: created exactly once"
    assert store.drain_outbox("sms") == 0
    notice = store.get(notice_id).data
    assert notice["jobId"] == last and notice["status"] == "failed" and "died" in notice["error"]
    assert notice["data"] == {"message": "hi"} and notice["attempts"] == 1


def test_retention_deletes_old_finished_jobs_and_their_indexes(r, redis_prefix):
    store = JobStore()
    job_id = store.create(job(now_ms(), workspace_id="ws1", contact_id="c1")).job_id
    running = store.start(job_id, f"{job_id}.1", "w")
    store.finish(running, "completed")  # type: ignore[arg-type]
    assert store.clean("sms", "completed", older_than_ms=60_000) == 0
    assert store.clean("sms", "completed", older_than_ms=-1) == 1
    assert store.get(job_id) is None
    assert not [k for k in r.scan_iter(match=f"{redis_prefix}:*") if job_id in k]


def test_accepted_jobs_survive_a_redis_restart_with_aof(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    server = EmbeddedRedis(tmp_path, persist=True).start()
    monkeypatch.setattr(settings, "redis_url", server.url)
    monkeypatch.setattr(settings, "redis_cluster", False)  # its own single server
    job_id = JobStore().create(job(now_ms() + 3_600_000)).job_id
    server.stop()
    server.start()  # same data directory: the AOF is replayed
    try:
        assert JobStore().get(job_id).state == "delayed"  # type: ignore[union-attr]
    finally:
        server.stop()


def test_a_failure_and_its_notice_are_written_in_one_step_then_created_in_its_queue(
    redis_prefix,
):
    store = JobStore()
    job_id = store.create(job(now_ms(), workspace_id="ws1", contact_id="c1")).job_id
    running = store.start(job_id, f"{job_id}.1", "w")
    notice = {"jobId": job_id, "status": "failed", "error": "HTTP 400"}
    assert store.finish_many(
        [
            Finish(
                running,
                "failed",
                error="HTTP 400",
                follow_ups=(FollowUp("failure-notices", notice),),
            )
        ]
    )  # type: ignore[arg-type]
    assert store.ids("failure-notices", "waiting") == [], "in the outbox of the job's own queue"
    assert store.drain_outbox("sms") == 1
    notices = store.ids("failure-notices", "waiting")
    assert len(notices) == 1
    queued = store.get(notices[0])
    assert queued.data == notice and queued.workspace_id == "ws1" and queued.state == "waiting"


def test_a_message_taken_after_a_pause_hands_its_jobs_back_and_resume_dispatches_them(
    r, redis_prefix
):
    store = JobStore()
    job_id = store.create(job(now_ms())).job_id
    (message,) = r.lrange(ready_key("sms"), 0, -1)
    store.pause("sms")
    assert store.paused() == {"sms"}
    assert store.start(job_id, message, "w") == "queue paused"
    parked = store.get(job_id)
    assert parked.state == "waiting" and parked.message_id == "" and parked.attempts == 0
    assert store.resume("sms") == 1 and store.paused() == set()
    again = store.get(job_id)
    running = store.start(job_id, again.message_id, "w")
    assert not isinstance(running, str) and running.state == "active"


def test_with_wait_replicas_a_create_is_acknowledged_only_once_replicated(
    redis_cluster, monkeypatch
):
    import redis

    monkeypatch.setattr(settings, "redis_url", redis_cluster.seed_url)
    monkeypatch.setattr(settings, "redis_cluster", True)
    monkeypatch.setattr(settings, "redis_prefix", f"qswait-{new_job_id('S')[-8:]}")
    replicas = 1 if redis_cluster.replicas else 0  # per master (none on a one-node cluster)
    store = JobStore()
    if replicas:
        monkeypatch.setattr(settings, "redis_wait_replicas", 1)
        job_id = store.create(job(now_ms() + 60_000)).job_id  # one replica: acknowledged
        assert store.get(job_id) is not None
    monkeypatch.setattr(settings, "redis_wait_replicas", replicas + 1)
    with pytest.raises(
        redis.TimeoutError, match=f"acknowledged by {replicas} of {replicas + 1} replicas"
    ):
        store.create(job(now_ms() + 60_000))
    written = store.count("sms", "delayed")
    assert written == replicas + 1, "written on the primary: the 503 says it may be"
    for key in store.client.scan_iter(match=f"{settings.redis_prefix}:*", target_nodes="all"):
        store.client.delete(key)


def test_an_id_without_a_queue_code_is_found_by_looking_in_each_queue(redis_prefix):
    store = JobStore()
    bare = new_job_id("S")[1:]  # a plain ULID, as ids were before they named their queue
    store.create(job(now_ms() + 60_000, job_id=bare))
    assert queue_of(bare) is None
    found = store.get(bare)
    assert found is not None and found.queue == "sms"
    assert store.cancel(bare) == "cancelled" and store.get(bare) is None


def test_keep_policies_delete_finished_jobs_of_the_organisation_beyond_their_count(redis_prefix):
    store = JobStore()

    same_ms = now_ms()  # every finish in one ms: the policy must still go by finishing order

    def finished(outcome: str, org: str, keep: object, option: str) -> str:
        job_id = store.create(job(now_ms(), org=org, options={option: keep})).job_id
        running = store.start(job_id, f"{job_id}.1", "w")
        assert store.finish(running, outcome, at_ms=same_ms)  # type: ignore[arg-type]
        return job_id

    at_once = finished("completed", "acme", True, "removeOnComplete")
    assert store.get(at_once) is None
    theirs = finished("completed", "globex", 1, "removeOnComplete")
    kept = [finished("completed", "acme", 2, "removeOnComplete") for _ in range(3)]
    assert [store.get(i) is not None for i in kept] == [False, True, True]
    assert store.get(theirs) is not None
    # a failure's removeOnFail applies; its removeOnComplete does not
    failed = finished("failed", "acme", {"count": 0}, "removeOnFail")
    assert store.get(failed) is None
    assert store.get(finished("failed", "acme", True, "removeOnComplete")).state == "failed"


def test_a_job_failed_by_recovery_honours_its_remove_on_fail(redis_prefix):
    store = JobStore()
    gone = store.create(job(now_ms(), max_attempts=1, options={"removeOnFail": True})).job_id
    stays = store.create(job(now_ms(), max_attempts=1, options={"removeOnFail": 5})).job_id
    for job_id in (gone, stays):
        store.start(job_id, f"{job_id}.1", "dead-host:1")
    assert sorted(store.recover("sms", alive=[], notify=True)) == sorted([gone, stays])
    assert store.get(gone) is None and store.get(stays).state == "failed"
    assert store.drain_outbox("sms") == 2, "both failure notices were written first"


def test_long_bodies_get_blanks_that_spread_their_lengths_and_read_back_unchanged(r, redis_prefix):
    store = JobStore()
    bodies = [
        {"to": f"+1415555{i:04d}", "message": "Your appointment is tomorrow. " * 3}
        for i in range(40)
    ]
    created = store.create_many([job(now_ms() + 60_000, data=b) for b in bodies])
    raw = [r.hget(queue_key("sms", "job", c.job_id), "data") for c in created]
    assert len({len(text) for text in raw}) > 4, "similar bodies must not share one length in Lua"
    assert [store.get(c.job_id).data for c in created] == bodies
    # Lua decodes them too: the failure notice of a job that recovery fails quotes its body
    failing = store.create(job(now_ms(), max_attempts=1, data=bodies[0])).job_id
    store.start(failing, f"{failing}.1", "dead-host:1")
    assert store.recover("sms", alive=[], notify=True) == [failing]
    store.drain_outbox("sms")
    (notice_id,) = store.ids("failure-notices", "waiting")
    assert store.get(notice_id).data["data"] == bodies[0]
