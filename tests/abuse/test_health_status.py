"""Health a load balancer can use: ``GET /api/health`` fails only when this gateway cannot store
jobs; ``GET /api/health/status`` reports workers, scheduler and backlogs (counted in jobs)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from local.embedded_redis import EmbeddedRedis, free_port
from local.gateway import build_app
from shared import health
from shared.jobs.liveness import beat
from shared.jobs.queues import ready_key
from shared.jobs.store import JobStore
from shared.settings import settings
from tests.conftest import wait_for
from tests.servers import serve

SMS = {"phoneNumber": "+1234567890", "message": "hi", "contactId": "c", "workspaceId": "w"}


@dataclass
class Api:
    url: str
    key: dict[str, str]  #: an organisation's API key
    operator: dict[str, str]  #: METRICS_TOKEN

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.url}/api/health")

    def status(self) -> httpx.Response:
        return httpx.get(f"{self.url}/api/health/status", headers=self.operator)


@pytest.fixture
def api(redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The gateway in-process, with no worker and no scheduler running."""
    key, token = "ka-" + uuid.uuid4().hex, "mt-" + uuid.uuid4().hex
    monkeypatch.setattr(settings, "api_keys", f"acme:{key}")
    monkeypatch.setattr(settings, "metrics_token", token)
    with serve(build_app()) as url:
        yield Api(url, {"authorization": f"Bearer {key}"}, {"authorization": f"Bearer {token}"})


@pytest.fixture
def own_redis(tmp_path: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch):
    """A Redis of this test's own, as the service's Redis (its configuration gets broken)."""
    server = EmbeddedRedis(tmp_path, persist=False).start()
    monkeypatch.setattr(settings, "redis_url", server.url)
    client = redis.Redis.from_url(server.url)
    try:
        yield client
    finally:
        client.close()
        server.stop()


def everyone_beats() -> None:
    beat("worker", "w1")
    beat("scheduler", "s1")


def test_no_worker_or_scheduler_keeps_the_gateway_in_rotation_but_fails_status(api: Api):
    health_response = api.health()
    assert health_response.status_code == 200
    assert health_response.json()["status"] == "degraded"
    status = api.status()
    assert status.status_code == 503
    assert status.json()["reasons"] == ["no worker alive", "no scheduler alive"]
    assert status.headers["cache-control"] == "no-store"


def test_status_is_200_when_workers_and_scheduler_are_alive(api: Api):
    everyone_beats()
    response = api.status()
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok" and response.json()["accepting"] is True


def test_backlog_counts_jobs_not_dramatiq_messages(api: Api, r: redis.Redis):
    everyone_beats()
    bulk = {"messages": [SMS | {"contactId": f"c{i}"} for i in range(12)]}
    created = httpx.post(f"{api.url}/api/schedule-sms/bulk", json=bulk, headers=api.key)
    assert created.status_code == 202, created.text
    later = httpx.post(f"{api.url}/api/schedule-sms", json=SMS | {"delay": 60_000}, headers=api.key)
    assert later.status_code == 202
    sms = api.status().json()["queues"]["sms"]
    assert (sms["waiting"], sms["delayed"]) == (12, 1)
    # 5 are on Dramatiq messages (sms' concurrency), 7 in the service's ready lines
    assert r.llen(ready_key("sms")) < 12
    assert sms["oldestWaitingMs"] >= 0


def test_a_long_wait_is_a_backlog_reason_unless_the_queue_is_paused(
    api: Api, monkeypatch: pytest.MonkeyPatch
):
    everyone_beats()
    monkeypatch.setattr(health, "BACKLOG_WAIT_S", 0)
    assert httpx.post(f"{api.url}/api/schedule-sms", json=SMS, headers=api.key).status_code == 202

    def backlogged() -> dict | None:
        response = api.status()
        return response.json() if response.status_code == 503 else None

    body = wait_for(backlogged, 5, "a backlog reason")
    assert body["reasons"][0].startswith("sms: the oldest waiting job has waited")
    assert api.health().status_code == 200  # a backlog never takes the gateway out of rotation
    JobStore().pause("sms")
    assert api.status().status_code == 200


def test_overdue_delayed_jobs_are_a_backlog_reason(api: Api, monkeypatch: pytest.MonkeyPatch):
    everyone_beats()
    monkeypatch.setattr(health, "OVERDUE_S", 0)
    soon = SMS | {"delay": 20}
    assert httpx.post(f"{api.url}/api/schedule-sms", json=soon, headers=api.key).status_code == 202
    reasons = wait_for(lambda: api.status().json()["reasons"], 5, "an overdue reason")
    assert reasons == ["sms: delayed jobs are overdue by more than 0 s"]


def test_a_read_only_replica_takes_the_gateway_out_of_rotation(api: Api, own_redis: redis.Redis):
    everyone_beats()
    assert api.health().status_code == 200
    own_redis.replicaof("127.0.0.1", free_port())  # a primary that is not there
    response = api.health()
    assert response.status_code == 503
    assert response.json()["reasons"][0] == "redis is a read-only replica"
    assert response.json()["accepting"] is False and response.json()["redis"]["ok"] is False
    scheduled = httpx.post(f"{api.url}/api/schedule-sms", json=SMS, headers=api.key)
    assert scheduled.status_code == 503 and "read-only replica" in scheduled.json()["detail"]


def test_an_out_of_memory_redis_takes_the_gateway_out_of_rotation(api: Api, own_redis: redis.Redis):
    everyone_beats()
    own_redis.config_set("maxmemory-policy", "noeviction")
    own_redis.config_set("maxmemory", 1)
    try:
        response = api.health()
    finally:
        own_redis.config_set("maxmemory", 0)
    assert response.status_code == 503
    assert "out of memory" in response.json()["reasons"][0]


def test_redis_down_is_503_on_both(api: Api, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings, "redis_url", f"redis://127.0.0.1:{free_port()}/0")
    assert api.health().status_code == 503
    response = api.status()
    assert response.status_code == 503 and response.json()["status"] == "unavailable"


def test_status_needs_operator_credentials(api: Api):
    assert httpx.get(f"{api.url}/api/health/status").status_code == 401
    assert httpx.get(f"{api.url}/api/health/status", headers=api.key).status_code == 403
