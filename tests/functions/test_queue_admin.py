"""Queue management and the seeds' admin aliases against the real service: gateway over HTTP,
a real worker and scheduler loop, a real callback receiver.

- ``/api/queues``: stats, drain, clean, retry-failed (dashboard basic auth);
- seed 003 (``/v1/admin/queue/*``, its own paths, query and shapes) with an HS256 admin JWT;
- seed 002 (``/api/bullmq/stats|health|metrics``) with ``SERVICE_TOKEN``, as its app calls.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from functions.api import bullmq_health
from shared.jobs.liveness import beat
from shared.jobs.queues import SUBQUEUES
from shared.jobs.store import JobStore, NewJob, now_ms
from shared.settings import settings
from tests.conftest import wait_for
from tests.functions.conftest import Service
from tests.servers import Receiver

JWT_SECRET = "launchkit-jwt-secret-" + "z" * 40
#: seed 004's getQueueStats keys, and seed 003's metrics keys
SEED_004_STATS = {"queueName", "waiting", "active", "completed", "failed", "delayed"}
SEED_003_METRICS = {"queue", "waiting", "active", "completed", "failed", "delayed", "total"}


@pytest.fixture
def admin(service: Service, monkeypatch: pytest.MonkeyPatch) -> httpx.Client:
    """The dashboard admin (HTTP basic auth)."""
    monkeypatch.setattr(settings, "dashboard_username", "ops")
    monkeypatch.setattr(settings, "dashboard_password", "pw-123")
    token = base64.b64encode(b"ops:pw-123").decode()
    return httpx.Client(base_url=service.http.base_url, headers={"authorization": f"Basic {token}"})


@pytest.fixture
def launchkit(service: Service, monkeypatch: pytest.MonkeyPatch) -> httpx.Client:
    """Seed 003's admin: a Bearer JWT signed with JWT_SECRET, role ADMIN (as LaunchKit writes)."""
    monkeypatch.setattr(settings, "jwt_secret", JWT_SECRET)
    claims = {"sub": "user-1", "role": "ADMIN", "exp": int(time.time()) + 600}
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    return bearer(service, token)


@pytest.fixture
def seed_app(service: Service, monkeypatch: pytest.MonkeyPatch) -> httpx.Client:
    """Seed 002's app: calls with SERVICE_TOKEN."""
    token = "svc-" + uuid.uuid4().hex
    monkeypatch.setattr(settings, "service_token", token)
    return bearer(service, token)


def bearer(service: Service, token: str) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"}
    return httpx.Client(base_url=service.http.base_url, headers=headers)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_drain_deletes_waiting_then_delayed_jobs_and_the_queue_runs_on(
    service: Service, receiver: Receiver, admin: httpx.Client
):
    ok(admin.post("/api/queues/sms/pause"))
    now = [service.schedule_sms().json()["jobId"] for _ in range(3)]
    later = [service.schedule_sms(delay=60_000).json()["jobId"] for _ in range(2)]
    stats = ok(admin.get("/api/queues/sms"))
    assert set(stats) >= SEED_004_STATS and stats["queueName"] == "sms"
    assert (stats["waiting"], stats["delayed"], stats["paused"]) == (3, 2, True)

    assert ok(admin.post("/api/queues/sms/drain")) == {
        "success": True, "queue": "sms", "removed": {"waiting": 3},
    }  # fmt: skip
    assert all(service.http.get(f"/api/job-status/{j}").status_code == 404 for j in now)
    assert service.status(later[0])["state"] == "delayed"
    assert ok(admin.post("/api/queues/sms/drain?delayed=true"))["removed"] == {
        "waiting": 0, "delayed": 2,
    }  # fmt: skip
    assert service.http.get(f"/api/job-status/{later[1]}").status_code == 404
    assert admin.post("/api/queues/sms/drain?delayed=maybe").status_code == 422
    assert admin.post("/api/queues/nope/drain").status_code == 404

    listed = ok(admin.get("/api/queues"))
    assert [q["queueName"] for q in listed["queues"]] == list(SUBQUEUES)
    sms = next(q for q in listed["queues"] if q["queueName"] == "sms")
    assert (sms["waiting"], sms["delayed"], sms["paused"]) == (0, 0, True)

    ok(admin.post("/api/queues/sms/resume"))
    fresh = service.schedule_sms(message="after the drain").json()["jobId"]
    service.wait_state(fresh, "completed")
    sent = [json.loads(c.body)["message"] for c in receiver.to("/send-sms")]
    assert sent == ["after the drain"], "no drained job was ever sent"


def test_retry_failed_runs_failed_jobs_again_with_fresh_attempts(
    service: Service, receiver: Receiver, admin: httpx.Client
):
    receiver.script["/send-sms"] = [(400, {}), (400, {})]  # a 4xx fails at once
    ids = [service.schedule_sms(message=f"m{i}").json()["jobId"] for i in range(2)]
    for job_id in ids:
        assert "HTTP 400" in service.wait_state(job_id, "failed")["error"]
    assert ok(admin.get("/api/queues/sms"))["failed"] == 2

    assert ok(admin.post("/api/queues/sms/retry-failed")) == {
        "success": True, "queue": "sms", "retried": 2,
    }  # fmt: skip
    for job_id in ids:
        done = service.wait_state(job_id, "completed")
        assert done["attempts"] == 1 and done["error"] is None
    assert len(receiver.to("/send-sms")) == 4
    assert ok(admin.post("/api/queues/sms/retry-failed"))["retried"] == 0


def test_clean_deletes_jobs_of_one_state_by_age_and_limit(
    service: Service, receiver: Receiver, admin: httpx.Client
):
    ids = [service.schedule_sms().json()["jobId"] for _ in range(3)]
    for job_id in ids:
        service.wait_state(job_id, "completed")
    url = "/api/queues/sms/clean"
    assert ok(admin.post(url, json={"state": "completed", "graceMs": 600_000}))["removed"] == 0
    assert ok(admin.post(url, json={"state": "completed", "limit": 2})) == {
        "success": True, "queue": "sms", "state": "completed", "removed": 2,
    }  # fmt: skip
    assert ok(admin.post(url, json={"state": "completed"}))["removed"] == 1
    assert all(service.http.get(f"/api/job-status/{j}").status_code == 404 for j in ids)
    for body, status in [
        ({"state": "active"}, 422),  # running jobs cannot be cleaned
        ({"state": "delayed"}, 422),  # drain?delayed=true does that
        ({}, 422),
        ({"state": "completed", "graceMs": -1}, 422),
        ({"state": "completed", "limit": 0}, 422),
        ({"state": "completed", "extra": 1}, 422),
    ]:
        assert admin.post(url, json=body).status_code == status, body
    assert admin.post(url).status_code == 400
    assert admin.post("/api/queues/nope/clean", json={"state": "failed"}).status_code == 404


def wait_ai(client: httpx.Client, job_id: str, status: str) -> None:
    wait_for(lambda: client.get(f"/v1/jobs/{job_id}").json()["status"] == status, what=status)


def test_seed_003_admin_paths_with_its_jwt(service: Service, launchkit: httpx.Client):
    paused = ok(launchkit.post("/v1/admin/queue/pause?queue=ai-jobs"))
    assert paused == {
        "success": True, "queue": "ai-jobs", "paused": True, "message": "Queue ai-jobs paused",
    }  # fmt: skip
    job = service.http.post("/v1/jobs/summarize", json={"text": "One. Two. Three."}).json()
    wait_for(
        lambda: ok(launchkit.get("/v1/admin/queue/metrics?queue=ai-jobs"))["waiting"] == 1,
        what="the job waits while paused",
    )
    assert service.http.get(f"/v1/jobs/{job['id']}").json()["status"] == "QUEUED"

    resumed = ok(launchkit.post("/v1/admin/queue/resume?queue=ai-jobs"))
    assert resumed["paused"] is False
    wait_ai(service.http, job["id"], "SUCCEEDED")

    one = ok(launchkit.get("/v1/admin/queue/metrics"))  # the seed's call: no ?queue=
    assert set(one) >= SEED_003_METRICS and one["queue"] == "ai-jobs"
    assert (one["completed"], one["total"]) == (1, 1)
    every = ok(launchkit.get("/v1/admin/queue/metrics/all"))
    assert {"aiJobs", "webhooks", "sms", "aiResponse"} <= set(every)
    assert every["aiJobs"] == one and every["webhooks"]["queue"] == "webhooks"
    for metrics in every.values():
        assert set(metrics) >= SEED_003_METRICS
        counts = ("waiting", "active", "completed", "failed", "delayed")
        assert metrics["total"] == sum(metrics[k] for k in counts)

    # the seed's clean call keeps finished jobs for their retention (completed: 1 hour)
    kept = ok(launchkit.post("/v1/admin/queue/clean?queue=ai-jobs"))
    assert kept == {"success": True, "queue": "ai-jobs", "cleaned": {"completed": 0, "failed": 0}}
    cleaned = ok(launchkit.post("/v1/admin/queue/clean?queue=ai-jobs&grace=0"))
    assert cleaned["cleaned"] == {"completed": 1, "failed": 0}
    assert ok(launchkit.get("/v1/admin/queue/metrics?queue=ai-jobs"))["total"] == 0
    assert service.http.get(f"/v1/jobs/{job['id']}").status_code == 404

    assert launchkit.post("/v1/admin/queue/pause?queue=nope").status_code == 404
    assert launchkit.post("/v1/admin/queue/clean?queue=ai-jobs&grace=soon").status_code == 422
    assert launchkit.post("/v1/admin/queue/clean?queue=ai-jobs&state=active").status_code == 422
    assert service.http.post("/v1/admin/queue/pause?queue=ai-jobs").status_code == 401


def test_seed_002_bullmq_paths_with_service_token(
    service: Service, seed_app: httpx.Client, admin: httpx.Client
):
    job_id = service.schedule_sms().json()["jobId"]
    service.wait_state(job_id, "completed")
    stats = ok(seed_app.get("/api/bullmq/stats"))
    assert stats["success"] is True and stats["timestamp"].endswith("Z")
    assert set(stats["queues"]) == set(SUBQUEUES)
    assert set(stats["queues"]["sms"]) >= SEED_004_STATS
    assert stats["queues"]["sms"]["completed"] == 1

    metrics = ok(seed_app.get("/api/bullmq/metrics"))
    assert metrics["queues"]["sms"]["counts"]["completed"] == 1
    assert set(metrics) == set(ok(seed_app.get("/api/metrics")))

    health = seed_app.get("/api/bullmq/health")
    body = health.json()
    assert health.status_code == (200 if body["healthy"] else 503)
    assert set(body["queues"]) == set(SUBQUEUES)
    assert service.http.get("/api/bullmq/stats").status_code == 403, "an API key is not operator"


def health_call(token: str) -> tuple[int, dict[str, Any]]:
    http = {"method": "GET", "path": "/api/bullmq/health"}
    event = {"headers": {"authorization": f"Bearer {token}"}, "requestContext": {"http": http}}
    response = bullmq_health.handler(event, None)
    return response["statusCode"], json.loads(response["body"])


def test_bullmq_health_is_seed_004s_shape_and_names_the_unhealthy_queue(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
):
    token = "svc-" + uuid.uuid4().hex
    monkeypatch.setattr(settings, "service_token", token)
    status, body = health_call(token)
    assert status == 503 and body["healthy"] is False
    assert body["reasons"] == ["no worker alive", "no scheduler alive"]
    assert all(body["queues"].values()), "no queue is at fault"

    beat("worker", "host:1")
    beat("scheduler", "host:2")
    status, body = health_call(token)
    assert (status, body["healthy"], body["status"]) == (200, True, "ok")

    old = now_ms() - 3_600_000  # a delayed job an hour overdue: the email queue lags
    JobStore().create(
        NewJob(queue="email", actor="email", data={}, due_ms=old + 1, max_attempts=1),
        at_ms=old,
    )
    status, body = health_call(token)
    assert status == 503 and body["queues"]["email"] is False and body["queues"]["sms"] is True
