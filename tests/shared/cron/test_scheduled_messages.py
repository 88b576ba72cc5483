"""``process-scheduled-messages`` against a fake app on 127.0.0.1 and a real Redis: due
messages become SMS and email jobs, each exactly once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from functions.cron import process_scheduled_messages
from shared.cron import scheduled_messages, state
from shared.cron.scheduled_messages import CHUNK, AppUnavailable
from shared.jobs.store import JobStore, idempotency_scope
from shared.settings import SERVICE_ORG, settings
from tests.conftest import load_event
from tests.servers import FakeApp

EVENT = load_event("scheduled_health_check")  # any Scheduled Event


def sms(message_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "phoneNumber": "+1 234 567 890", "message": "Your visit is at 3",
            "contactId": "c-1", "workspaceId": "66338"} | extra  # fmt: skip


def email(message_id: str, **extra: Any) -> dict[str, Any]:
    return {"_id": message_id, "type": "email", "to": "ann@example.com", "subject": "Hi",
            "html": "<p>Hi</p>", "contactId": "c-2", "workspaceId": "66338"} | extra  # fmt: skip


def job_of(message_id: str) -> Any:
    store = JobStore()
    job_id = store.id_for(idempotency_scope(SERVICE_ORG), message_id)
    return store.get(job_id) if job_id else None


def jobs_in(queue: str) -> int:
    store = JobStore()
    return sum(store.count(queue, s) for s in ("delayed", "waiting", "active"))


def test_due_messages_become_sms_and_email_jobs_keyed_by_the_apps_message_id(
    redis_prefix: str, app_server: FakeApp, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "service_token", "svc-token")
    app_server.answer = {"messages": [sms("m-1"), email("m-2")]}
    result = process_scheduled_messages.handler(EVENT, None)
    assert result["fetched"] == 2 and result["queued"] == 2 and result["alreadyQueued"] == 0
    assert result["scheduledAt"] == EVENT["time"]
    (request,) = app_server.requests
    assert request.path == settings.scheduled_messages_endpoint
    assert request.headers["authorization"] == "Bearer svc-token"
    first, second = job_of("m-1"), job_of("m-2")
    assert first.queue == "sms" and first.data["phoneNumber"] == "+1234567890"
    assert second.queue == "email" and second.data["to"] == "ann@example.com"
    assert first.org == SERVICE_ORG and first.state == "waiting"


def test_a_message_returned_again_or_by_a_concurrent_run_is_queued_once(
    redis_prefix: str, app_server: FakeApp
):
    app_server.answer = [sms(f"m-{n}") for n in range(50)]
    results: list[dict[str, Any]] = []

    def one_run() -> None:
        results.append(process_scheduled_messages.handler(EVENT, None))

    runs = [threading.Thread(target=one_run) for _ in range(3)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    again = process_scheduled_messages.handler(EVENT, None)
    assert sum(r["queued"] for r in results) == 50
    assert again["queued"] == 0 and again["alreadyQueued"] == 50
    assert jobs_in("sms") == 50


def test_invalid_messages_are_reported_and_skipped_while_the_others_are_queued(
    redis_prefix: str, app_server: FakeApp
):
    app_server.answer = [
        sms("ok-1"),
        sms("bad-phone", phoneNumber="call me"),
        {"phoneNumber": "+1234567890", "message": "no id"},
        sms("fax-1", type="fax"),
        "not an object",
    ]
    result = process_scheduled_messages.handler(EVENT, None)
    assert result["queued"] == 1 and result["invalid"] == 4
    reasons = {m["id"]: m["reason"] for m in result["invalidMessages"]}
    assert "phoneNumber" in reasons["bad-phone"] and "fax" in reasons["fax-1"]
    assert reasons[None] in ("not an object", "no id (1-255 printable characters)")
    assert job_of("ok-1") is not None and job_of("bad-phone") is None


def test_an_id_reused_with_another_body_is_a_conflict_and_the_rest_still_queue(
    redis_prefix: str, app_server: FakeApp
):
    app_server.answer = [sms("m-1")]
    process_scheduled_messages.handler(EVENT, None)
    app_server.answer = [sms("m-1", message="changed"), sms("m-2"), sms("m-3")]
    result = process_scheduled_messages.handler(EVENT, None)
    assert result["conflicts"] == 1 and result["conflictingIds"] == ["m-1"]
    assert result["queued"] == 2
    assert job_of("m-1").data["message"] == "Your visit is at 3"  # the first stays as it was


def test_more_messages_than_one_create_call_takes_are_all_queued(
    redis_prefix: str, app_server: FakeApp
):
    app_server.answer = [sms(f"m-{n}") for n in range(CHUNK + 5)]
    assert process_scheduled_messages.handler(EVENT, None)["queued"] == CHUNK + 5
    assert jobs_in("sms") == CHUNK + 5


def test_a_run_takes_at_most_its_share_and_the_next_run_the_rest(
    redis_prefix: str, app_server: FakeApp, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(scheduled_messages, "MAX_PER_RUN", 30)
    app_server.answer = [sms(f"m-{n}") for n in range(50)]
    first = process_scheduled_messages.handler(EVENT, None)
    assert first["fetched"] == 50 and first["queued"] == 30 and first["left"] == 20
    app_server.answer = app_server.answer[30:]  # the app returns what is still due
    assert process_scheduled_messages.handler(EVENT, None)["queued"] == 20
    assert jobs_in("sms") == 50


def test_an_app_that_fails_fails_the_run_and_its_error_is_kept(
    redis_prefix: str, app_server: FakeApp
):
    app_server.status, app_server.answer = 503, {"error": "down"}
    with pytest.raises(AppUnavailable, match="answered 503"):
        process_scheduled_messages.handler(EVENT, None)
    (kept,) = state.read(["process-scheduled-messages"]).values()
    assert kept.last_status == "error" and "answered 503" in (kept.last_error or "")
    app_server.status, app_server.answer = 200, []
    process_scheduled_messages.handler(EVENT, None)
    (kept,) = state.read(["process-scheduled-messages"]).values()
    assert kept.last_status == "ok" and kept.last_error is None and kept.runs == 2
    assert kept.last_result["fetched"] == 0


def test_without_app_api_url_the_run_is_skipped(redis_prefix: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings, "app_api_url", "")
    result = process_scheduled_messages.handler(EVENT, None)
    assert result["skipped"] == "APP_API_URL is not set" and result["queued"] == 0


def test_runs_reuse_one_pooled_connection(redis_prefix: str, app_server: FakeApp):
    for _ in range(3):  # as a warm Lambda runs the function again
        process_scheduled_messages.handler(EVENT, None)
    peers = {request.peer for request in app_server.requests}
    assert len(app_server.requests) == 3 and len(peers) == 1 and "" not in peers
