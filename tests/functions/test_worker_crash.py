"""Nothing lost when workers die: SIGKILL mid-callback is redelivered (same ``webhook-id``);
SIGTERM lets the callback in flight finish and hands prefetched jobs back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest

from local.dev import ROOT
from shared.jobs.actors import declare_job_actors
from shared.jobs.broker import build_broker
from shared.jobs.due import DueJobs
from shared.jobs.store import JobStore, NewJob, now_ms
from shared.settings import settings
from tests.conftest import wait_for
from tests.functions.conftest import SECRET, sms
from tests.servers import Receiver


def start_worker(
    receiver: Receiver, threads: int = 2, processes: int = 1, **extra_env: str
) -> subprocess.Popen[bytes]:
    """``qs worker`` as a separate process group, on the test prefix (plus ``extra_env``)."""
    env = dict(
        os.environ,
        **extra_env,
        REDIS_URL=settings.resolved_redis_url(),
        REDIS_PREFIX=settings.redis_prefix,
        REDIS_CLUSTER=str(settings.redis_cluster),
        SMS_API_URL=receiver.url,
        WEBHOOK_SECRET=SECRET,
        HEARTBEAT_INTERVAL_S="0.2",
        HEARTBEAT_TTL_S="1.5",
        WORKER_IDLE_POLL_MS="20",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "local.cli", "worker", "-p", str(processes), "-t", str(threads)],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def new_sms(store: JobStore, n: int = 1) -> list[str]:
    jobs = [
        NewJob(queue="sms", actor="sms", data=sms(message=f"m{i}"), due_ms=now_ms(), max_attempts=5)
        for i in range(n)
    ]
    return [c.job_id for c in store.create_many(jobs)]


@pytest.fixture
def rescuer(
    redis_prefix: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """An in-process worker and due-jobs loop that take over after the subprocess worker."""
    monkeypatch.setattr(settings, "sms_api_url", receiver.url)
    monkeypatch.setattr(settings, "webhook_secret", SECRET)
    monkeypatch.setattr(settings, "heartbeat_ttl_s", 1.5)
    previous = dramatiq.get_broker()
    broker = build_broker()
    dramatiq.set_broker(broker)
    declare_job_actors()
    started: list[Any] = []

    def start() -> None:
        worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=20)
        worker.start()
        due = DueJobs()
        thread = threading.Thread(target=due.run, daemon=True)
        thread.start()
        started.extend([worker, due, thread])

    yield start
    if started:
        worker, due, thread = started
        due.stop()
        thread.join(timeout=5)
        worker.stop()
    broker.close()
    dramatiq.set_broker(previous)


def test_a_worker_killed_mid_callback_has_its_job_redelivered(
    redis_prefix: str, receiver: Receiver, rescuer: Any
):
    receiver.hang["/send-sms"] = 1
    worker = start_worker(receiver)
    try:
        store = JobStore()
        (job_id,) = new_sms(store)
        wait_for(lambda: receiver.to("/send-sms"), 20, "first callback attempt")
        assert store.get(job_id).state == "active"  # type: ignore[union-attr]
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    rescuer()
    job = wait_for(
        lambda: (j := store.get(job_id)) and j.state == "completed" and j, 20, "redelivery"
    )
    first, second = receiver.to("/send-sms")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == job_id
    assert job.attempts == 2 and "died" in (job.error or "")


def test_sigterm_finishes_the_callback_in_flight_and_hands_back_prefetched_jobs(
    redis_prefix: str, receiver: Receiver, rescuer: Any
):
    receiver.delay_s = 0.5
    worker = start_worker(receiver, threads=1)
    store = JobStore()
    ids = new_sms(store, 4)
    wait_for(lambda: receiver.to("/send-sms"), 20, "first callback in flight")
    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    done = [i for i in ids if store.get(i).state == "completed"]  # type: ignore[union-attr]
    assert len(done) >= 1, "the callback in flight finished"
    assert all(store.get(i).state == "waiting" for i in ids if i not in done)  # type: ignore[union-attr]
    rescuer()
    wait_for(lambda: all(store.get(i).state == "completed" for i in ids), 20, "the rest delivered")  # type: ignore[union-attr]
    assert sorted(c.json()["jobId"] for c in receiver.to("/send-sms")) == sorted(ids)


def test_repeated_stop_signals_to_the_whole_group_stop_every_worker_cleanly(
    redis_prefix: str, receiver: Receiver
):
    from shared.jobs.liveness import alive

    worker = start_worker(receiver, processes=2)
    try:
        wait_for(lambda: len(alive("worker")) == 2, 20, "two worker processes beating")
        for _ in range(3):  # Ctrl-C, systemd and impatient people all signal the group
            os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert alive("worker") == []
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
