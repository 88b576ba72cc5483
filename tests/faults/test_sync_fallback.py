"""Seed 002's fallback with Redis really down (a stopped redis-server on its own port): an
immediate send marked ``options.fallback: "sync"`` is delivered in the call and says so, a
bulk check of up to 10 leads still answers; everything else is the usual 503."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from local.gateway import build_app
from shared.delivery.signing import verify
from shared.settings import settings
from tests.faults.harness import RedisServer
from tests.functions.conftest import SECRET
from tests.functions.fake_app import FakeApp
from tests.servers import Receiver, serve

SYNC = {"options": {"fallback": "sync"}}


def sms(**overrides: Any) -> dict[str, Any]:
    body = {"phoneNumber": "+1234567890", "message": "hi", "contactId": "c1", "workspaceId": "w1"}
    return body | overrides


def email(**overrides: Any) -> dict[str, Any]:
    body = {"to": "a@example.com", "subject": "Hi", "html": "<p>hi</p>", "contactId": "c1",
            "workspaceId": "w1"}  # fmt: skip
    return body | overrides


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    receiver = Receiver()
    with serve(receiver.app()) as url:
        receiver.url = url
        monkeypatch.setattr(settings, "sms_api_url", url)
        monkeypatch.setattr(settings, "email_api_url", url)
        monkeypatch.setattr(settings, "webhook_secret", SECRET)
        yield receiver


@pytest.fixture
def api(
    redis_server: RedisServer, backend: Receiver, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[httpx.Client]:
    """The gateway in this process on the test's own Redis, which the test then stops."""
    monkeypatch.setattr(settings, "redis_url", redis_server.url)
    monkeypatch.setattr(settings, "redis_prefix", "fallback")
    with serve(build_app()) as url:
        yield httpx.Client(base_url=url, headers={"authorization": f"Bearer {api_key}"})


def test_an_immediate_send_marked_sync_is_queued_while_redis_is_up_and_sent_in_the_call_once_down(
    api: httpx.Client, redis_server: RedisServer, backend: Receiver
):
    queued = api.post("/api/schedule-sms", json=sms(**SYNC))
    assert queued.status_code == 202 and "mode" not in queued.json()
    assert redis_server.client().exists(f"fallback:{{sms}}:job:{queued.json()['jobId']}")
    redis_server.kill()
    assert not redis_server.answers()
    sent = api.post("/api/schedule-sms", json=sms(message="now", **SYNC))
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert answer["mode"] == "sync-fallback" and answer["success"] is True
    assert answer["result"]["status"] == 200 and answer["jobId"].startswith("S")
    (call,) = [c for c in backend.to("/send-sms") if c.json()["message"] == "now"]
    assert call.json() == sms(message="now") | {"jobId": answer["jobId"]}
    assert call.headers["webhook-id"] == answer["jobId"]
    assert verify(SECRET, call.headers, call.body), "signed like any callback"


def test_with_redis_down_everything_else_is_a_503_and_nothing_is_sent(
    api: httpx.Client, redis_server: RedisServer, backend: Receiver
):
    redis_server.kill()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = {
        "no fallback": api.post("/api/schedule-sms", json=sms()),
        "delayed": api.post("/api/schedule-sms", json=sms(delay=60_000, **SYNC)),
        "sendAt": api.post("/api/schedule-sms", json=sms(sendAt=tomorrow, **SYNC)),
        "bulk": api.post("/api/schedule-sms/bulk", json={"messages": [sms(**SYNC)]}),
    }
    for why, response in refused.items():
        assert response.status_code == 503, (why, response.text)
        assert "nothing was written" in response.json()["detail"], why
        assert response.headers["retry-after"]
    assert backend.calls == []


def test_an_email_marked_sync_is_sent_in_the_call_to_the_email_backend(
    api: httpx.Client, redis_server: RedisServer, backend: Receiver
):
    redis_server.kill()
    sent = api.post("/api/schedule-email", json=email(**SYNC))
    assert sent.status_code == 200 and sent.json()["mode"] == "sync-fallback", sent.text
    (call,) = backend.to("/api/email/send")
    assert call.json()["subject"] == "Hi"


def test_a_retried_sync_send_carries_the_same_webhook_id(
    api: httpx.Client, redis_server: RedisServer, backend: Receiver
):
    redis_server.kill()
    headers = {"idempotency-key": "order-42"}
    first = api.post("/api/schedule-sms", json=sms(**SYNC), headers=headers).json()
    again = api.post("/api/schedule-sms", json=sms(**SYNC), headers=headers).json()
    other = api.post("/api/schedule-sms", json=sms(**SYNC)).json()
    assert first["jobId"] == again["jobId"] != other["jobId"]
    ids = [c.headers["webhook-id"] for c in backend.to("/send-sms")]
    assert ids == [first["jobId"], first["jobId"], other["jobId"]], "the backend can drop it"


def test_a_failed_sync_send_is_a_502_tried_once(
    api: httpx.Client, redis_server: RedisServer, backend: Receiver
):
    redis_server.kill()
    backend.script["/send-sms"] = [(500, {})]
    failed = api.post("/api/schedule-sms", json=sms(**SYNC))
    assert failed.status_code == 502 and "HTTP 500" in failed.json()["detail"]
    assert len(backend.to("/send-sms")) == 1


def test_a_bulk_check_of_up_to_ten_leads_answers_while_redis_is_down_and_more_is_a_503(
    api: httpx.Client, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
):
    fake = FakeApp(secret=SECRET, leads={"l1": {"email": "a@example.com"}})
    redis_server.kill()
    with serve(fake.app()) as url:
        monkeypatch.setattr(settings, "app_api_url", url)
        data = {"leadIds": ["l1", "l2"], "userId": "u", "workspaceId": "w"}
        body = {"jobType": "bulk-availability-check", "data": data}
        answered = api.post("/api/jobs", json=body)
        assert answered.status_code == 200, answered.text
        assert answered.json()["mode"] == "sync"
        assert answered.json()["result"]["summary"]["available"] == 1
        many = {**body, "data": data | {"leadIds": [f"l{i}" for i in range(11)]}}
        refused = api.post("/api/jobs", json=many)
        assert refused.status_code == 503 and "nothing was written" in refused.json()["detail"]
        assert len(fake.lead_requests) == 1, "a queued check fetches nothing in the call"
