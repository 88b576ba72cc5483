"""``qs migrate``: jobs written in the pre-cluster key layout are found, delivered and replayed
by this version once migrated."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from local.cli import main
from shared.jobs.keys import queue_key, ulid
from shared.jobs.migrate import migrate, old_layout_present
from shared.jobs.store import idempotency_scope, now_ms
from shared.redis_check import check_redis_at_startup
from shared.redis_client import key, server_time_ms
from tests.conftest import wait_for
from tests.functions.conftest import Service
from tests.servers import Receiver


def write_old_job(
    client: redis.Redis, state: str, *, due_ms: int, queue: str = "sms", **fields: Any
) -> str:
    """A job record and its state index as the job store wrote them before keys carried their
    queue's hash tag (``<prefix>:job:<id>``, ``<prefix>:jobs:<queue>:<state>``)."""
    job_id, created = ulid(), now_ms() - 60_000
    body = {"phoneNumber": "+1234567890", "message": f"old {state}", "workspaceId": "w1"}
    record = {
        "id": job_id, "queue": queue, "actor": queue, "state": state,
        "data": json.dumps(body), "opts": "{}", "attempts": 0, "maxAttempts": 5,
        "createdAt": created, "scheduledFor": due_ms, "ws": "w1", "ct": "", "org": "acme",
        **fields,
    }  # fmt: skip
    client.hset(key("job", job_id), mapping=record)
    score = record.get("finishedAt", due_ms if state == "delayed" else created)
    client.zadd(key("jobs", queue, state), {job_id: score})
    return job_id


def test_old_layout_jobs_are_delivered_found_and_replayed(
    service: Service, receiver: Receiver, r: redis.Redis
) -> None:
    now = server_time_ms(r)
    waiting = write_old_job(r, "waiting", due_ms=now - 5_000, msg="an-old-dramatiq-message")
    active = write_old_job(r, "active", due_ms=now - 9_000, startedAt=now - 8_000)
    later = write_old_job(r, "delayed", due_ms=now + 3_600_000)
    done = write_old_job(r, "completed", due_ms=now - 7_000, finishedAt=now - 6_000)
    replayed = write_old_job(
        r, "delayed", due_ms=now + 3_600_000,
        idem=key("idem", idempotency_scope("acme"), "client-42"),
    )  # fmt: skip
    r.hset(key("idem", idempotency_scope("acme"), "client-42"), mapping={"job": replayed, "fp": ""})
    # the old layout's other keys: a Dramatiq queue, a dispatch line, the global pause set
    r.rpush(f"{key('dramatiq')}:sms", "an-old-dramatiq-message")
    r.rpush(key("ready", "sms", "5", "w1"), waiting)
    r.sadd(key("paused"), "email")
    r.hset(key("usage", "acme"), mapping={"summarize:jobs": 2, "summarize:costCents": 1.5})

    # this version sees none of it, and says so
    assert service.http.get(f"/api/job-status/{later}").status_code == 404
    assert old_layout_present(r) > 0

    report = migrate(r, now_ms=server_time_ms(r))
    assert report.moved == {"sms": 5} and report.skipped == [] and report.paused == ["email"]
    assert old_layout_present(r) == 0
    assert not r.keys(f"{key('job')}:*") and not r.exists(key("paused"), key("ready", "sms"))

    # the waiting job and the one an old worker held are delivered, once each
    wait_for(lambda: len(receiver.calls) == 2, 10, "the two due old jobs delivered")
    delivered = sorted(call.json()["jobId"] for call in receiver.calls)
    assert delivered == sorted([waiting, active])
    service.wait_state(waiting, "completed")
    assert service.status(later)["state"] == "delayed"
    assert service.status(done)["state"] == "completed"
    # a client-chosen id used before the upgrade still finds its job, and replays it
    assert service.status("client-42")["jobId"] == replayed
    # (a different body under that key is a conflict naming it, not a second job)
    again = service.schedule_sms(jobId="client-42", delay=3_600_000)
    assert again.status_code == 422 and replayed in again.json()["detail"], again.text
    assert r.exists(queue_key("email", "paused"))
    assert r.hget(queue_key("ai-jobs", "usage", "acme"), "summarize:jobs") == "2"

    # a second run finds nothing left to do
    assert migrate(r, now_ms=server_time_ms(r)).total == 0


def test_qs_migrate_command_dry_run_then_migrates(
    redis_prefix: str,
    r: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    job_id = write_old_job(r, "delayed", due_ms=now_ms() + 60_000)
    check_redis_at_startup()  # what qs worker, scheduler and gateway do first
    assert "run `qs migrate`" in caplog.text
    assert main(["migrate", "--dry-run"]) == 0
    assert "1 per-state index" in capsys.readouterr().out
    assert r.exists(key("job", job_id))
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert "moved 1 job record" in out and "sms: 1" in out
    assert r.hget(queue_key("sms", "job", job_id), "state") == "delayed"
    assert main(["migrate"]) == 0
    assert "nothing to migrate" in capsys.readouterr().out
