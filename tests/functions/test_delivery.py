"""Scheduled SMS and email delivery end to end: API -> job store -> scheduler -> worker ->
your backend (a real HTTP server on 127.0.0.1), with retries and failure notices."""

from __future__ import annotations

import time

import httpx
import pytest

from shared.delivery.signing import verify
from shared.jobs.store import now_ms
from tests.conftest import set_queue_limits, wait_for
from tests.functions.conftest import SECRET, Service, sms
from tests.servers import Receiver


def test_immediate_sms_is_posted_to_the_backend_with_the_original_data_and_job_id(
    service: Service, receiver: Receiver
):
    response = service.schedule_sms(metadata={"source": "campaign", "campaignId": "c-1"})
    assert response.status_code == 202
    body = response.json()
    assert body["success"] is True and body["message"] == "SMS scheduled successfully"
    job_id = body["jobId"]
    call = wait_for(lambda: receiver.to("/send-sms"), what="callback")[0]
    assert call.json() == sms(metadata={"source": "campaign", "campaignId": "c-1"}) | {
        "jobId": job_id
    }
    status = service.wait_state(job_id, "completed")
    assert status["attempts"] == 1 and status["result"]["status"] == 200
    assert status["finishedAt"].endswith("Z") and status["error"] is None


def test_callbacks_are_signed_per_standard_webhooks(service: Service, receiver: Receiver):
    job_id = service.schedule_sms().json()["jobId"]
    call = wait_for(lambda: receiver.to("/send-sms"))[0]
    assert call.headers["webhook-id"] == job_id
    assert verify(SECRET, call.headers, call.body)
    assert not verify(SECRET, call.headers, call.body.replace(b"test", b"TEST"))


def test_email_goes_to_its_own_endpoint_and_metadata_can_override_it(
    service: Service, receiver: Receiver
):
    email = {"to": "test@example.com", "subject": "Hi", "html": "<p>Hi</p>",
             "contactId": "1", "workspaceId": "2"}  # fmt: skip
    first = service.http.post("/api/schedule-email", json=email)
    assert first.json()["message"] == "Email scheduled successfully"
    service.http.post(
        "/api/schedule-email", json=email | {"metadata": {"callbackEndpoint": "/hooks/mail"}}
    )
    wait_for(lambda: receiver.to("/api/email/send") and receiver.to("/hooks/mail"))
    assert receiver.to("/api/email/send")[0].json()["jobId"] == first.json()["jobId"]


def test_delayed_sms_waits_in_the_delayed_state_until_due(service: Service, receiver: Receiver):
    before = now_ms()
    job_id = service.schedule_sms(delay=700).json()["jobId"]
    status = service.status(job_id)
    assert status["state"] == "delayed"
    wait_for(lambda: receiver.to("/send-sms"), what="delayed callback")
    assert now_ms() - before >= 700
    service.wait_state(job_id, "completed")


def test_send_at_with_a_timezone_is_computed_by_the_server_across_dst(service: Service):
    # 2027-03-14 02:30 does not exist in New York (spring forward): refused, not guessed.
    gap = service.schedule_sms(sendAt="2027-03-14T02:30:00", timezone="America/New_York")
    assert gap.status_code == 422
    assert gap.json()["errors"][0]["field"] == "sendAt"
    # 2026-11-01 01:30 happens twice in New York (fall back): the first one, EDT (UTC-4).
    # It is in the past, so the job is due now; a future local time is stored as UTC.
    future = service.schedule_sms(sendAt="2027-07-01T09:00:00", timezone="Europe/Paris")
    status = service.status(future.json()["jobId"])
    assert status["state"] == "delayed"
    assert status["scheduledFor"] == "2027-07-01T07:00:00.000Z"  # CEST is UTC+2
    winter = service.schedule_sms(sendAt="2027-01-15T09:00:00", timezone="Europe/Paris")
    assert service.status(winter.json()["jobId"])["scheduledFor"] == "2027-01-15T08:00:00.000Z"


def test_bulk_schedules_every_message_in_order_with_one_job_id_each(
    service: Service, receiver: Receiver
):
    messages = [sms(message=f"msg {i}", contactId=f"c{i}") for i in range(25)]
    response = service.http.post("/api/schedule-sms/bulk", json={"messages": messages})
    assert response.status_code == 202
    ids = response.json()["jobIds"]
    assert len(ids) == len(set(ids)) == response.json()["count"] == 25
    wait_for(lambda: len(receiver.to("/send-sms")) == 25, what="25 callbacks")
    by_job = {c.json()["jobId"]: c.json()["message"] for c in receiver.to("/send-sms")}
    assert [by_job[i] for i in ids] == [f"msg {i}" for i in range(25)]


@pytest.mark.parametrize("limiter", [None, {"max": 1000, "duration_ms": 1000}])
def test_a_workers_thread_sends_its_message_of_callbacks_side_by_side(
    service: Service, receiver: Receiver, monkeypatch, limiter
):
    """A message of 20 due SMS: its callbacks are all in flight at once, where one at a time
    per thread would hold at most 4 (the worker's threads) and the receiver, which answers
    only once 12 wait together, would answer each after its 5 s wait. So with a rate limit:
    each request still takes its send slot, and waits for it without holding up the rest."""
    set_queue_limits(monkeypatch, sms={"limiter": limiter, "concurrency": None})
    receiver.gather = 12
    messages = [sms(message=f"msg {i}") for i in range(20)]
    response = service.http.post("/api/schedule-sms/bulk", json={"messages": messages})
    assert response.status_code == 202
    ids = response.json()["jobIds"]
    for job_id in ids:
        assert service.wait_state(job_id, "completed")["attempts"] == 1
    assert receiver.most_in_flight >= 12
    assert sorted(c.json()["jobId"] for c in receiver.to("/send-sms")) == sorted(ids)


def test_bulk_with_one_bad_message_writes_nothing(service: Service, r):
    messages = [sms(), sms(phoneNumber="not a phone"), sms()]
    response = service.http.post("/api/schedule-sms/bulk", json={"messages": messages})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "messages.1.phoneNumber"
    assert list(r.scan_iter(match=f"{service.store.prefix}:job:*")) == []


def test_idempotency_key_returns_the_original_job_and_rejects_a_different_body(
    service: Service, receiver: Receiver
):
    headers = {"idempotency-key": "campaign-7-contact-9"}
    first = service.http.post("/api/schedule-sms", json=sms(delay=60_000), headers=headers)
    again = service.http.post("/api/schedule-sms", json=sms(delay=60_000), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["jobId"] == first.json()["jobId"]
    assert again.headers["idempotent-replayed"] == "true"
    changed = service.http.post("/api/schedule-sms", json=sms(message="other"), headers=headers)
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["field"] == "Idempotency-Key"
    body_key = service.schedule_sms(jobId="client-42").json()["jobId"]
    assert service.schedule_sms(jobId="client-42").json()["jobId"] == body_key
    assert service.store.count("sms", "delayed") == 1


def test_idempotency_keys_are_scoped_per_organisation(service: Service, monkeypatch, api_key):
    from shared.settings import settings

    monkeypatch.setattr(settings, "api_keys", f"acme:{api_key},beta:other-key,acme:second-key")
    same_org = service.http.post(
        "/api/schedule-sms", json=sms(delay=60_000),
        headers={"idempotency-key": "org-wide", "authorization": "Bearer second-key"},
    )  # fmt: skip
    replay = service.http.post(
        "/api/schedule-sms", json=sms(delay=60_000), headers={"idempotency-key": "org-wide"}
    )
    assert replay.json()["jobId"] == same_org.json()["jobId"], "one organisation, one scope"
    headers = {"idempotency-key": "same-key"}
    mine = service.http.post("/api/schedule-sms", json=sms(delay=60_000), headers=headers)
    theirs = service.http.post(
        "/api/schedule-sms", json=sms(delay=60_000),
        headers=headers | {"authorization": "Bearer other-key"},
    )  # fmt: skip
    assert theirs.status_code == 202 and theirs.json()["jobId"] != mine.json()["jobId"]
    other_org = service.http.get(
        f"/api/job-status/{mine.json()['jobId']}", headers={"authorization": "Bearer other-key"}
    )
    assert other_org.status_code == 404


def test_a_client_chosen_job_id_reads_cancels_and_reschedules_the_job_in_its_organisation(
    service: Service, monkeypatch, api_key
):
    from shared.settings import settings

    monkeypatch.setattr(settings, "api_keys", f"acme:{api_key},beta:other-key")
    job_id = service.schedule_sms(jobId="order-42", delay=60_000).json()["jobId"]
    assert service.status("order-42")["jobId"] == job_id
    other = {"authorization": "Bearer other-key"}
    assert service.http.get("/api/job-status/order-42", headers=other).status_code == 404
    moved = service.http.post("/api/jobs/order-42/reschedule", json={"delay": 120_000})
    assert moved.status_code == 200 and moved.json()["state"] == "delayed"
    assert service.http.delete("/api/jobs/order-42", headers=other).status_code == 404
    assert service.http.delete("/api/jobs/order-42").json()["state"] == "cancelled"
    assert service.http.get("/api/job-status/order-42").status_code == 404
    again = service.schedule_sms(jobId="order-42", delay=60_000)
    assert again.status_code == 202 and "idempotent-replayed" not in again.headers
    assert again.json()["jobId"] != job_id, "a replay never returns a deleted job's id"


def test_cancel_reschedule_and_promote_a_delayed_job(service: Service, receiver: Receiver):
    cancelled = service.schedule_sms(delay=60_000).json()["jobId"]
    assert service.http.delete(f"/api/jobs/{cancelled}").json()["state"] == "cancelled"
    assert service.http.get(f"/api/job-status/{cancelled}").status_code == 404
    assert service.http.delete(f"/api/jobs/{cancelled}").status_code == 404

    moved = service.schedule_sms(delay=60_000).json()["jobId"]
    later = service.http.post(f"/api/jobs/{moved}/reschedule", json={"delay": 3_600_000})
    assert later.json()["state"] == "delayed"
    assert service.status(moved)["scheduledFor"] == later.json()["scheduledFor"]
    soon = service.http.post(f"/api/jobs/{moved}/reschedule", json={"delay": 300})
    assert soon.status_code == 200
    service.wait_state(moved, "completed")
    assert service.http.post(f"/api/jobs/{moved}/promote").status_code == 409

    promoted = service.schedule_sms(delay=60_000).json()["jobId"]
    assert service.http.post(f"/api/jobs/{promoted}/promote").json()["state"] == "waiting"
    service.wait_state(promoted, "completed")
    assert {c.json()["jobId"] for c in receiver.to("/send-sms")} == {moved, promoted}


def test_a_backend_failing_twice_then_succeeding_completes_on_attempt_3(
    service: Service, receiver: Receiver
):
    receiver.script["/send-sms"] = [(500, {}), (500, {})]
    options = {"backoff": {"type": "fixed", "delay": 100}}
    job_id = service.schedule_sms(options=options).json()["jobId"]
    status = service.wait_state(job_id, "completed")
    assert status["attempts"] == 3
    calls = receiver.to("/send-sms")
    assert len(calls) == 3
    assert {c.headers["webhook-id"] for c in calls} == {job_id}  # constant across retries


def test_a_4xx_fails_at_once_and_posts_a_signed_failure_notice(
    service: Service, receiver: Receiver
):
    receiver.script["/send-sms"] = [(400, {})]
    job_id = service.schedule_sms(metadata={"campaignId": "c-9"}).json()["jobId"]
    status = service.wait_state(job_id, "failed")
    assert status["attempts"] == 1 and "HTTP 400" in status["error"]
    notice = wait_for(lambda: receiver.to("/queue-webhook"), what="failure notice")[0]
    assert verify(SECRET, notice.headers, notice.body)
    body = notice.json()
    assert body["jobId"] == job_id and body["status"] == "failed" and body["queue"] == "sms"
    assert body["attempts"] == 1 and "HTTP 400" in body["error"]
    assert body["data"]["metadata"] == {"campaignId": "c-9"}


def test_a_failure_notice_carries_its_own_webhook_id_the_same_on_each_of_its_retries(
    service: Service, receiver: Receiver
):
    receiver.script["/send-sms"] = [(400, {})]
    receiver.script["/queue-webhook"] = [(500, {})]  # the notice's first attempt fails
    job_id = service.schedule_sms().json()["jobId"]
    first = wait_for(lambda: receiver.to("/queue-webhook"), what="failure notice")[0]
    notice_id = first.headers["webhook-id"]
    assert notice_id != job_id and notice_id.startswith("F"), "the notice job's own id"
    assert first.json()["jobId"] == job_id  # the failed job is named in the body
    wait_for(lambda: service.store.get(notice_id).state == "delayed", what="the notice's retry")  # type: ignore[union-attr]
    service.store.reschedule(notice_id, 0)  # skip the 2 s back-off
    calls = wait_for(lambda: receiver.to("/queue-webhook")[1:] and receiver.to("/queue-webhook"))
    assert [c.headers["webhook-id"] for c in calls] == [notice_id, notice_id]
    assert all(verify(SECRET, c.headers, c.body) for c in calls)


def test_the_last_failed_attempt_fails_the_job(service: Service, receiver: Receiver):
    receiver.script["/send-sms"] = [(503, {})] * 3
    options = {"attempts": 3, "backoff": {"type": "exponential", "delay": 50}}
    job_id = service.schedule_sms(options=options).json()["jobId"]
    status = service.wait_state(job_id, "failed")
    assert status["attempts"] == 3 and status["maxAttempts"] == 3 and "503" in status["error"]
    assert len(receiver.to("/send-sms")) == 3


def test_retry_after_is_honoured(service: Service, receiver: Receiver):
    receiver.script["/send-sms"] = [(429, {"retry-after": "1"})]
    options = {"backoff": {"type": "fixed", "delay": 10}}
    job_id = service.schedule_sms(options=options).json()["jobId"]
    service.wait_state(job_id, "completed")
    first, second = receiver.to("/send-sms")
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) >= 1


def test_a_redirect_is_not_followed_and_fails_the_job(service: Service, receiver: Receiver):
    receiver.script["/send-sms"] = [(302, {"location": "http://169.254.169.254/"})]
    job_id = service.schedule_sms().json()["jobId"]
    assert "redirect" in service.wait_state(job_id, "failed")["error"]


def test_bad_input_is_422_with_field_errors_and_writes_nothing(service: Service, r):
    cases = {
        "phoneNumber": sms(phoneNumber="12ab"),
        "delay": sms(delay=-5),
        "timezone": sms(sendAt="2027-01-01T09:00:00", timezone="Mars/Olympus"),
        "sendAt": sms(delay=10, sendAt="2027-01-01T09:00:00Z"),
    }
    for field, body in cases.items():
        response = service.http.post("/api/schedule-sms", json=body)
        assert response.status_code == 422, field
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], field
    missing = service.http.post("/api/schedule-sms", json={"message": "hi"})
    assert {"phoneNumber", "contactId", "workspaceId"} <= {
        e["field"] for e in missing.json()["errors"]
    }
    bad_email = {"to": "nope", "subject": "s", "html": "h", "contactId": "1", "workspaceId": "2"}
    assert service.http.post("/api/schedule-email", json=bad_email).status_code == 422
    nan = service.http.post(
        "/api/schedule-sms", content=b'{"phoneNumber": "+1234567890", "message": "m", '
        b'"contactId": "1", "workspaceId": "2", "delay": NaN}',
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert nan.status_code == 422
    written = [k for k in r.scan_iter(match=f"{service.store.prefix}:*") if ":alive:" not in k
               and not k.endswith("__heartbeats__")]  # fmt: skip
    assert written == [], "nothing written"


def test_unknown_job_is_a_404_problem(service: Service):
    response = service.http.get("/api/job-status/01NOPE")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_requests_without_a_key_are_refused(service: Service):
    response = httpx.post(service.http.base_url.join("/api/schedule-sms"), json=sms())
    assert response.status_code == 401


def test_completed_jobs_are_deleted_after_their_retention(service: Service, receiver: Receiver):
    from shared.jobs.queues import QUEUES

    job_id = service.schedule_sms().json()["jobId"]
    service.wait_state(job_id, "completed")
    time.sleep(0.01)
    assert (
        service.store.clean("sms", "completed", older_than_ms=QUEUES["sms"].keep_completed_ms) == 0
    )
    assert service.store.clean("sms", "completed", older_than_ms=0) == 1
    assert service.http.get(f"/api/job-status/{job_id}").status_code == 404


def test_an_unreachable_redis_is_503_with_retry_after(api_key: str, monkeypatch):
    import json

    from functions.api import schedule_sms
    from local.embedded_redis import free_port
    from shared.settings import settings
    from tests.conftest import load_event

    monkeypatch.setattr(settings, "redis_url", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr(settings, "redis_cluster", False)
    event = load_event("http_post_json")
    event["headers"]["authorization"] = f"Bearer {api_key}"
    event["body"] = json.dumps(sms())
    response = schedule_sms.handler(event, None)
    assert response["statusCode"] == 503
    assert response["headers"]["retry-after"] == "5"
    assert response["headers"]["content-type"] == "application/problem+json"
