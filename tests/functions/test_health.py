"""``GET /api/health`` and the ``health-check`` cron function, called as Lambda would."""

from __future__ import annotations

import json
import time

import pytest

from functions.api.health import handler
from functions.cron import health_check
from local.embedded_redis import free_port
from shared.jobs.liveness import Heartbeat, beat
from shared.settings import settings
from tests.conftest import load_event


def call() -> tuple[int, dict]:
    response = handler(load_event("http_get_health"), None)
    assert response["headers"]["cache-control"] == "no-store"
    return response["statusCode"], json.loads(response["body"])


def test_health_is_200_degraded_naming_what_is_missing_when_nothing_runs(redis_prefix: str):
    status, body = call()
    assert status == 200  # this gateway still accepts and stores jobs
    assert body["status"] == "degraded" and body["accepting"] is True
    assert body["reasons"] == ["no worker alive", "no scheduler alive"]
    assert body["redis"]["ok"] is True and body["redis"]["latencyMs"] >= 0


def test_health_is_200_ok_when_workers_and_scheduler_beat(redis_prefix: str):
    beat("worker", "host:1")
    beat("worker", "host:2")
    beat("scheduler", "host:3")
    status, body = call()
    assert status == 200
    assert body["status"] == "ok" and body["reasons"] == []
    assert body["workers"] == {"ok": True, "alive": 2}
    assert "queues" not in body  # per-queue figures are for /api/health/status


def test_a_worker_that_stopped_beating_no_longer_counts(redis_prefix: str, monkeypatch):
    monkeypatch.setattr(settings, "heartbeat_ttl_s", 0.05)
    beat("worker", "host:1")
    beat("scheduler", "host:3")
    heartbeat = Heartbeat("scheduler", "host:4").start()
    try:
        status, body = call()  # immediately: the fresh heartbeat thread keeps a scheduler alive
        assert body["scheduler"]["alive"] >= 1
    finally:
        heartbeat.stop()
    time.sleep(0.1)  # past the (shortened) TTL: the explicit beats are now stale
    status, body = call()
    assert status == 200 and body["status"] == "degraded"
    assert "no worker alive" in body["reasons"]


def test_health_is_503_when_redis_is_unreachable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings, "redis_url", f"redis://127.0.0.1:{free_port()}/0")
    status, body = call()
    assert status == 503
    assert body["status"] == "unavailable" and body["accepting"] is False
    assert body["reasons"] == ["redis unreachable"]


def test_health_reveals_no_address_or_credential(redis_prefix: str, monkeypatch):
    monkeypatch.setattr(settings, "api_keys", "secret-key-value")
    beat("worker", "secret-host:1")
    _, body = call()
    text = json.dumps(body)
    assert "secret" not in text and "redis://" not in text and "127.0.0.1" not in text


def test_health_check_cron_reports_status_for_its_tick(redis_prefix: str, caplog):
    caplog.set_level("WARNING")
    result = health_check.handler(load_event("scheduled_health_check"), None)
    assert result["status"] == "degraded" and result["accepting"] is True
    assert result["scheduledAt"] == "2026-11-27T08:30:00Z"
    assert "no worker alive" in caplog.text


def test_health_check_cron_logs_an_error_when_jobs_cannot_be_stored(monkeypatch, caplog):
    monkeypatch.setattr(settings, "redis_url", f"redis://127.0.0.1:{free_port()}/0")
    caplog.set_level("ERROR")
    result = health_check.handler(load_event("scheduled_health_check"), None)
    assert result["status"] == "unavailable" and result["reasons"][0] == "redis unreachable"
    assert result["healthy"] is False
    assert "health-check unavailable" in caplog.text
