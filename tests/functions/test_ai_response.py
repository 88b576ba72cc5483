"""``POST /api/ai-response``: admission limits, the adaptive callback, URL safety, and a reply
kept across callback retries — against the real service and a real receiver."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from shared.delivery.signing import verify
from shared.settings import settings
from tests.functions.conftest import SECRET, Service
from tests.servers import FakeOpenAI, Receiver


def request(receiver: Receiver, path: str = "/api/ai-callback", **extra: Any) -> dict[str, Any]:
    body = {
        "workspace_id": "ws-1", "contact_id": "+14155550123", "message_id": "msg-1",
        "message_text": "Hi! Can I move my appointment to Friday? Thanks",
        "callback_url": receiver.url + path,
    }  # fmt: skip
    return body | extra


def ai_jobs(service: Service) -> int:
    """Jobs of the queue in any state, read in one transaction so a job moving on counts once."""
    store = service.store
    states = ("delayed", "waiting", "active", "completed", "failed")
    with store.client.pipeline(transaction=True) as pipe:
        for state in states:
            pipe.zcard(store.qkey("ai-response", "jobs", state))
        return sum(pipe.execute())


def test_the_reply_is_posted_in_the_ai_response_format_signed(service: Service, receiver: Receiver):
    answer = service.http.post("/api/ai-response", json=request(receiver))
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["jobId"]
    assert answer.json() == {"success": True, "jobId": job_id, "message": "AI response job queued"}
    job = service.wait_state(job_id, "completed")
    (call,) = receiver.to("/api/ai-callback")
    payload = call.json()
    assert set(payload) == {"workspace_id", "message_id", "job_id", "response_text"}
    assert payload["workspace_id"] == "ws-1" and payload["message_id"] == "msg-1"
    assert payload["job_id"] == job_id and payload["response_text"].strip()
    assert verify(SECRET, call.headers, call.body) and call.headers["webhook-id"] == job_id
    assert job["result"]["ai"]["provider"] == "local"


def test_a_reply_to_the_sms_endpoint_takes_the_sms_shape(service: Service, receiver: Receiver):
    job_id = service.http.post("/api/ai-response", json=request(receiver, "/send-sms")).json()[
        "jobId"
    ]
    service.wait_state(job_id, "completed")
    (call,) = receiver.to("/send-sms")
    payload = call.json()
    assert payload["to"] == payload["contactId"] == "+14155550123"
    assert payload["workspaceId"] == "ws-1" and payload["message"].strip()
    assert payload["metadata"] == {"source": "ai_response", "messageId": "msg-1", "job_id": job_id}


def test_a_contact_over_its_limit_gets_429_with_retry_after_and_no_job(
    service: Service, receiver: Receiver
):
    codes = [service.http.post("/api/ai-response", json=request(receiver)) for _ in range(7)]
    assert [c.status_code for c in codes] == [202] * 5 + [429] * 2
    refused = codes[-1]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert ai_jobs(service) == 5
    other = service.http.post("/api/ai-response", json=request(receiver, contact_id="c2"))
    assert other.status_code == 202, "another contact of the workspace still gets in"
    keyed = request(receiver, rate_limit_key="another-key")
    assert service.http.post("/api/ai-response", json=keyed).status_code == 429, (
        "a rate_limit_key adds a limit; the contact's still holds"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://evil.example/hook", "not in CALLBACK_ALLOWED_HOSTS"),
        ("ftp://127.0.0.1/x", "absolute http or https URL"),
        ("not a url", "absolute http or https URL"),
    ],
)
def test_an_unsafe_callback_url_is_refused_with_nothing_written(
    service: Service, receiver: Receiver, url: str, reason: str
):
    answer = service.http.post("/api/ai-response", json=request(receiver) | {"callback_url": url})
    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert error["field"] == "callback_url" and reason in error["message"]
    assert ai_jobs(service) == 0


def test_missing_fields_and_oversized_text_are_422(
    service: Service, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "ai_max_text_bytes", 100)
    answer = service.http.post(
        "/api/ai-response", json=request(receiver, message_text="x" * 101) | {"message_id": None}
    )
    assert answer.status_code == 422
    fields = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert set(fields) == {"message_text", "message_id"} and "100 bytes" in fields["message_text"]
    assert ai_jobs(service) == 0


def test_a_callback_to_a_private_address_fails_at_delivery_outside_dev(
    service: Service, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
):
    admin = {"authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
    monkeypatch.setattr(settings, "dashboard_password", "pw")
    service.http.post("/api/queues/ai-response/pause", headers=admin)
    job_id = service.http.post("/api/ai-response", json=request(receiver)).json()["jobId"]
    monkeypatch.setattr(settings, "app_env", "production")
    service.http.post("/api/queues/ai-response/resume", headers=admin)
    job = service.wait_state(job_id, "failed")
    assert job["attempts"] == 1 and "blocked: 127.0.0.1 is a loopback address" in job["error"]
    assert receiver.to("/api/ai-callback") == []


def test_a_callback_retry_resends_the_same_reply_without_asking_the_ai_again(
    service: Service, receiver: Receiver, openai: FakeOpenAI
):
    openai.content, openai.tokens = "Friday works, see you!", (40, 6)
    receiver.script["/api/ai-callback"] = [(500, {})]
    body = request(receiver)
    job_id = service.http.post("/api/ai-response", json=body).json()["jobId"]
    service.wait_state(job_id, "delayed")  # the callback's 500: a retry after 2 s
    assert service.http.post(f"/api/jobs/{job_id}/promote").status_code == 200  # now, please
    job = service.wait_state(job_id, "completed")
    first, second = receiver.to("/api/ai-callback")
    assert first.json() == second.json()
    assert second.json()["response_text"] == "Friday works, see you!"
    assert len(openai.requests) == 1 and openai.requests[0]["model"] == "fake-model"
    ai = job["result"]["ai"]
    assert ai["provider"] == "openai" and ai["totalTokens"] == 46 and ai["costCents"] == 0.115
