"""A running job's progress and log (``shared.jobs.progress``), against real Redis."""

from __future__ import annotations

import pytest

from shared.jobs import progress
from shared.jobs.keys import queue_key
from shared.jobs.progress import MAX_LOG_LINE_BYTES, MAX_LOG_LINES
from shared.jobs.store import Job, JobStore, NewJob, now_ms


def running_job(store: JobStore) -> Job:
    job_id = store.create(
        NewJob(queue="sms", actor="sms", data={"m": 1}, due_ms=now_ms(), max_attempts=3)
    ).job_id
    running = store.start(job_id, f"{job_id}.1", "w1")
    assert isinstance(running, Job), running
    return running


def test_progress_is_stored_on_the_job_and_a_retry_starts_with_it(redis_prefix):
    store = JobStore()
    job = running_job(store)
    assert job.progress is None
    assert job.update_progress(40)
    assert job.update_progress({"page": 3, "cursor": "abc"})
    assert store.get(job.id).progress == {"page": 3, "cursor": "abc"}
    assert store.finish(job, "delayed", error="HTTP 500", due_ms=now_ms())
    assert store.promote_due("sms", at_ms=now_ms() + 10) == 1
    again = store.start(job.id, f"{job.id}.2", "w1")
    assert isinstance(again, Job) and again.progress == {"page": 3, "cursor": "abc"}


@pytest.mark.parametrize("bad", [101, -1, float("nan"), True, "50", [1], {"x": "y" * 20_000}])
def test_progress_refuses_what_is_neither_0_to_100_nor_a_small_object(redis_prefix, bad):
    job = running_job(JobStore())
    with pytest.raises((TypeError, ValueError)):
        job.update_progress(bad)
    assert JobStore().get(job.id).progress is None


def test_the_log_keeps_its_last_lines_each_cut_to_its_byte_limit(redis_prefix, r):
    store = JobStore()
    job = running_job(store)
    for i in range(MAX_LOG_LINES + 5):
        assert job.log(f"line {i}")
    lines = progress.logs(job)
    assert len(lines) == MAX_LOG_LINES
    assert lines[0] == "line 5" and lines[-1] == f"line {MAX_LOG_LINES + 4}"
    assert r.hget(queue_key("sms", "job", job.id), "logCount") == str(MAX_LOG_LINES + 5)
    job.log("é" * MAX_LOG_LINE_BYTES)  # 2 bytes each: cut at a character boundary
    assert progress.logs(job)[-1] == "é" * (MAX_LOG_LINE_BYTES // 2)


def test_a_finished_or_deleted_job_is_never_written_again(redis_prefix, r):
    store = JobStore()
    job = running_job(store)
    assert job.log("working")
    assert store.finish(job, "completed")
    assert not job.update_progress(100) and not job.log("late")
    assert store.get(job.id).progress is None and progress.logs(job) == ["working"]
    assert store.clean("sms", "completed", older_than_ms=-1) == 1
    assert not job.update_progress(100) and not job.log("after delete")
    assert not r.exists(queue_key("sms", "job", job.id)), "no record resurrected"
    assert progress.logs(job) == []


def test_an_attempt_that_lost_its_job_to_recovery_cannot_report_on_the_next_one(redis_prefix):
    store = JobStore()
    job = running_job(store)
    assert store.recover("sms", alive=["someone-else:1"]) == [job.id]
    assert not job.update_progress(10) and not job.log("stale attempt")
    assert store.get(job.id).progress is None
