"""``health-check``: what it checks, the result it keeps for the status routes, and the signed
alert it POSTs to a real receiver when the status changes (and only then)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from functions.cron import health_check
from local.embedded_redis import free_port
from shared.delivery.signing import verify
from shared.jobs.liveness import beat
from shared.jobs.store import JobStore, NewJob, now_ms
from shared.settings import settings
from tests.conftest import load_event
from tests.servers import Receiver

EVENT = load_event("scheduled_health_check")
SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="


@pytest.fixture
def alerts(redis_prefix: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    """Alerts go to ``receiver``/alerts, signed; every backend is the receiver (reachable)."""
    monkeypatch.setattr(settings, "alert_webhook_url", f"{receiver.url}/alerts")
    monkeypatch.setattr(settings, "webhook_secret", SECRET)
    for name in ("sms_api_url", "email_api_url", "app_api_url"):
        monkeypatch.setattr(settings, name, receiver.url)
    monkeypatch.setattr(settings, "ai_api_url", "")
    return receiver


def alive() -> None:
    beat("worker", "host:1")
    beat("scheduler", "host:2")


def run() -> dict[str, Any]:
    return health_check.handler(EVENT, None)


def test_a_healthy_service_checks_every_part_and_alerts_nobody(alerts: Receiver):
    alive()
    result = run()
    assert result["healthy"] is True and result["reasons"] == [] and result["alert"] is None
    assert result["backends"] == {"sms": True, "email": True, "app": True}
    assert alerts.to("/alerts") == []


def test_a_change_to_unhealthy_and_back_posts_one_signed_alert_each(alerts: Receiver):
    first = run()  # no worker, no scheduler
    assert first["healthy"] is False and first["alert"] == "sent"
    assert run()["alert"] is None  # still unhealthy: no second alert
    (down,) = alerts.to("/alerts")
    assert verify(SECRET, down.headers, down.body)
    body = down.json()
    assert body["type"] == "health.unhealthy" and body["previousStatus"] == "healthy"
    assert "no worker alive" in body["reasons"] and "no scheduler alive" in body["reasons"]
    assert down.headers["webhook-id"] == body["alertId"]

    alive()
    assert run()["alert"] == "sent"
    assert run()["alert"] is None
    _, up = alerts.to("/alerts")
    assert verify(SECRET, up.headers, up.body)
    assert up.json()["type"] == "health.recovered" and up.json()["previousStatus"] == "unhealthy"
    assert up.headers["webhook-id"] != down.headers["webhook-id"]


def test_an_alert_the_receiver_refused_is_sent_again_with_the_same_webhook_id(alerts: Receiver):
    alerts.script["/alerts"] = [(500, {})]
    assert run()["alert"].startswith("failed")
    assert run()["alert"] == "sent"
    refused, delivered = alerts.to("/alerts")
    assert refused.headers["webhook-id"] == delivered.headers["webhook-id"]
    assert run()["alert"] is None


def test_an_unreachable_backend_makes_the_service_unhealthy(
    alerts: Receiver, monkeypatch: pytest.MonkeyPatch
):
    alive()
    monkeypatch.setattr(settings, "email_api_url", f"http://127.0.0.1:{free_port()}")
    result = run()
    assert result["healthy"] is False and result["backends"]["email"] is False
    assert result["reasons"] == ["email backend unreachable"]
    assert alerts.to("/alerts")[0].json()["reasons"] == ["email backend unreachable"]


def test_a_queue_failing_most_of_its_jobs_makes_the_service_unhealthy(
    alerts: Receiver, unlimited: None
):
    alive()
    store = JobStore()
    for n in range(12):
        created = store.create(
            NewJob(queue="sms", actor="sms", data={"n": n}, due_ms=now_ms(), max_attempts=1)
        )
        running = store.start(created.job_id, f"{created.job_id}.1", "w")
        store.finish(running, "failed", error="HTTP 400")  # type: ignore[arg-type]
    result = run()
    assert "sms: 12 of 12 jobs failed in 5 minutes" in result["reasons"]


def test_a_redis_outage_is_reported_and_alerted(alerts: Receiver, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings, "redis_url", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr(settings, "redis_cluster", False)  # a single server, down
    result = run()
    assert result["status"] == "unavailable" and result["alert"] == "sent"
    assert "redis unreachable" in alerts.to("/alerts")[0].json()["reasons"]


def test_the_last_result_shows_in_health_status_and_metrics(
    alerts: Receiver, gateway: httpx.Client, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "service_token", "svc-token")
    headers = {"authorization": "Bearer svc-token"}
    assert gateway.get("/api/health/status", headers=headers).json()["lastCheck"] is None
    alive()
    run()
    last = gateway.get("/api/health/status", headers=headers).json()["lastCheck"]
    assert last["status"] == "healthy" and last["backends"]["sms"]["reachable"] is True
    assert set(last["failureRates"]) >= {"sms", "email"}
    metrics = gateway.get("/api/metrics", headers=headers).json()
    assert metrics["lastCheck"]["checkedAt"] == last["checkedAt"]
