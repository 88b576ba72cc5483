"""Pausing a queue: no new job starts, due jobs wait, running ones finish; resume delivers."""

from __future__ import annotations

import base64

import httpx
import pytest

from shared.settings import settings
from tests.conftest import wait_for
from tests.functions.conftest import Service
from tests.servers import Receiver


@pytest.fixture
def admin(service: Service, monkeypatch: pytest.MonkeyPatch) -> httpx.Client:
    monkeypatch.setattr(settings, "dashboard_username", "ops")
    monkeypatch.setattr(settings, "dashboard_password", "pw-123")
    token = base64.b64encode(b"ops:pw-123").decode()
    return httpx.Client(base_url=service.http.base_url, headers={"authorization": f"Basic {token}"})


def test_a_paused_queue_starts_nothing_until_resumed(
    service: Service, receiver: Receiver, admin: httpx.Client
):
    assert admin.post("/api/queues/sms/pause").json() == {
        "success": True, "queue": "sms", "paused": True, "dispatchedJobs": 0,
    }  # fmt: skip
    now = service.schedule_sms().json()["jobId"]
    soon = service.schedule_sms(delay=200).json()["jobId"]
    email = {"to": "a@example.com", "subject": "s", "html": "<p>h</p>",
             "contactId": "c", "workspaceId": "w"}  # fmt: skip
    service.http.post("/api/schedule-email", json=email)
    wait_for(lambda: receiver.to("/api/email/send"), what="the email queue still runs")
    wait_for(
        lambda: service.status(soon)["state"] == "waiting", what="the delayed SMS due, waiting"
    )
    assert receiver.to("/send-sms") == []
    assert service.store.client.zcard(service.store.qkey("sms", "dispatched")) == 0
    assert service.status(now)["state"] == service.status(soon)["state"] == "waiting"

    resumed = admin.post("/api/queues/sms/resume").json()
    assert resumed["paused"] is False and resumed["dispatchedJobs"] == 2
    service.wait_state(now, "completed")
    service.wait_state(soon, "completed")


def test_pausing_needs_admin_credentials_and_a_known_queue(service: Service, admin: httpx.Client):
    assert service.http.post("/api/queues/sms/pause").status_code == 401  # an API key is not admin
    missing = admin.post("/api/queues/nope/pause")
    assert missing.status_code == 404 and "sms" in missing.json()["detail"]
