"""Direct delivery through SNS and SES (moto's AWS), end to end: API -> job store -> worker ->
provider, with the job's result, retries of throttling and at-once failure of permanent errors."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from bench.limits import max_in_window
from shared.delivery import aws as delivery_aws
from shared.jobs.store import now_ms
from shared.settings import settings
from tests.aws import ACCOUNT, REGION, Injector, Recorder, aws, json_error, query_error
from tests.conftest import set_queue_limits, wait_for
from tests.functions.conftest import Service, sms
from tests.servers import Receiver

__all__ = ["aws"]  # the fixture, used by name

SENDER = "noreply@example.com"
FAST_RETRIES = {"attempts": 3, "backoff": {"type": "fixed", "delay": 50}}


def email(**overrides: Any) -> dict[str, Any]:
    body = {"to": "ada@example.org", "subject": "Hello", "contactId": "1", "workspaceId": "2",
            "html": "<h1>Hi Ada</h1><p>Your code is <b>42</b>.</p>"}  # fmt: skip
    return body | overrides


def sent_sms() -> dict[str, tuple[str, str]]:
    return dict(sns_backends[ACCOUNT][REGION].sms_messages)


def sent_email() -> list[Any]:
    return list(ses_backends[ACCOUNT][REGION].sent_messages)


@pytest.fixture
def verified_sender(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    monkeypatch.setattr(settings, "email_from", f"Queue Services <{SENDER}>")
    return SENDER


def test_sms_provider_sns_publishes_with_sender_id_and_type_and_records_the_message_id(
    aws: None, service: Service, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "sms_provider", "sns")
    monkeypatch.setattr(settings, "sms_sender_id", "QSERVICES")
    monkeypatch.setattr(settings, "sms_type", "Promotional")
    recorder = Recorder("sns", "Publish")
    try:
        job_id = service.schedule_sms(message="Your code is 42").json()["jobId"]
        status = service.wait_state(job_id, "completed")
    finally:
        recorder.close()
    result = status["result"]
    assert result["provider"] == "sns" and status["attempts"] == 1
    assert sent_sms()[result["messageId"]] == ("+1234567890", "Your code is 42")
    attributes = recorder.params[0]["MessageAttributes"]
    assert attributes == {
        "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "QSERVICES"},
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Promotional"},
    }
    assert receiver.to("/send-sms") == []


def test_metadata_provider_chooses_per_request_both_ways(
    aws: None, service: Service, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
):
    by_sns = service.schedule_sms(metadata={"provider": "sns"}).json()["jobId"]
    result = service.wait_state(by_sns, "completed")["result"]
    assert result["provider"] == "sns" and result["messageId"] in sent_sms()
    monkeypatch.setattr(settings, "sms_provider", "sns")
    by_callback = service.schedule_sms(metadata={"provider": "callback"}).json()["jobId"]
    call = wait_for(lambda: receiver.to("/send-sms"), what="callback")[0]
    assert call.json()["jobId"] == by_callback
    result = service.wait_state(by_callback, "completed")["result"]
    assert result["provider"] == "callback" and result["status"] == 200
    assert len(sent_sms()) == 1


def test_an_unknown_or_unusable_provider_is_a_422_naming_the_field_and_nothing_is_stored(
    aws: None, service: Service
):
    response = service.schedule_sms(metadata={"provider": "twilio"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "metadata.provider" and "callback, sns" in error["message"]
    wrong_channel = service.http.post(
        "/api/schedule-email", json=email(metadata={"provider": "sns"})
    )
    assert wrong_channel.status_code == 422
    no_sender = service.http.post("/api/schedule-email", json=email(metadata={"provider": "ses"}))
    assert no_sender.status_code == 422 and "EMAIL_FROM" in no_sender.text
    bulk = service.http.post(
        "/api/schedule-sms/bulk",
        json={"messages": [sms(), sms(metadata={"provider": "SNS"})]},
    )
    assert bulk.status_code == 422
    assert bulk.json()["errors"][0]["field"] == "messages.1.metadata.provider"
    states = ("delayed", "waiting", "active", "completed", "failed")
    assert [service.store.count(q, s) for q in ("sms", "email") for s in states] == [0] * 10


def test_email_provider_ses_sends_html_and_a_derived_text_part(
    verified_sender: str, service: Service, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "email_provider", "ses")
    recorder = Recorder("sesv2", "SendEmail")
    try:
        derived = service.http.post("/api/schedule-email", json=email()).json()["jobId"]
        given = service.http.post("/api/schedule-email", json=email(text="Code: 42")).json()[
            "jobId"
        ]
        results = [service.wait_state(j, "completed")["result"] for j in (derived, given)]
    finally:
        recorder.close()
    assert [r["provider"] for r in results] == ["ses", "ses"]
    by_id = {m.id: m for m in sent_email()}
    message = by_id[results[0]["messageId"]]
    assert message.source == f"Queue Services <{SENDER}>"
    assert message.destinations["ToAddresses"] == ["ada@example.org"]
    assert message.subject == "Hello" and message.body == email()["html"]
    bodies = sorted((p["Content"]["Simple"]["Body"] for p in recorder.params), key=str)
    assert {b["Text"]["Data"] for b in bodies} == {"Hi Ada\n\nYour code is 42.", "Code: 42"}
    assert all(b["Html"]["Data"] == email()["html"] for b in bodies)
    assert receiver.to("/api/email/send") == []


def test_throttling_is_retried_with_the_jobs_backoff_then_sent_once(
    aws: None, service: Service, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "sms_provider", "sns")
    injector = Injector("sns", "Publish").then(
        query_error("Throttling", "Rate exceeded"),
        EndpointConnectionError(endpoint_url="https://sns.eu-west-1.amazonaws.com/"),
    )
    try:
        job_id = service.schedule_sms(options=FAST_RETRIES).json()["jobId"]
        status = service.wait_state(job_id, "completed")
    finally:
        injector.close()
    assert status["attempts"] == 3 and injector.calls == 3
    assert list(sent_sms()) == [status["result"]["messageId"]]


def test_ses_throttling_429_is_retried(
    verified_sender: str, service: Service, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "email_provider", "ses")
    injector = Injector("sesv2", "SendEmail").then(
        json_error("TooManyRequestsException", "Maximum sending rate exceeded.", 429)
    )
    try:
        job_id = service.http.post("/api/schedule-email", json=email(options=FAST_RETRIES))
        status = service.wait_state(job_id.json()["jobId"], "completed")
    finally:
        injector.close()
    assert status["attempts"] == 2 and len(sent_email()) == 1


def test_an_unverified_ses_sender_fails_the_job_at_once(
    aws: None, service: Service, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "email_provider", "ses")
    monkeypatch.setattr(settings, "email_from", "nobody@unverified.example")
    job_id = service.http.post("/api/schedule-email", json=email(options=FAST_RETRIES))
    status = service.wait_state(job_id.json()["jobId"], "failed")
    assert status["attempts"] == 1
    assert status["error"].startswith("ses SendEmail failed (MessageRejected, HTTP 400)")
    assert "not verified" in status["error"] and sent_email() == []
    notice = wait_for(lambda: receiver.to("/queue-webhook"), what="failure notice")[0].json()
    assert notice["jobId"] == job_id.json()["jobId"] and notice["attempts"] == 1


def test_an_opted_out_number_fails_the_job_at_once(
    aws: None, service: Service, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "sms_provider", "sns")
    injector = Injector("sns", "Publish").then(
        query_error("InvalidParameter", "Invalid parameter: PhoneNumber is opted out")
    )
    try:
        job_id = service.schedule_sms(options=FAST_RETRIES).json()["jobId"]
        status = service.wait_state(job_id, "failed")
    finally:
        injector.close()
    assert status["attempts"] == 1 and injector.calls == 1
    assert status["error"] == (
        "sns Publish failed (InvalidParameter, HTTP 400): "
        "Invalid parameter: PhoneNumber is opted out"
    )
    assert sent_sms() == {}


def test_the_queues_rate_limit_counts_sns_requests_as_they_go_out(
    aws: None, service: Service, monkeypatch: pytest.MonkeyPatch
):
    set_queue_limits(
        monkeypatch,
        sms={"limiter": {"max": 2, "duration_ms": 400}, "concurrency": None,
             "workspace_limiter": None},
    )  # fmt: skip
    monkeypatch.setattr(settings, "sms_provider", "sns")
    sent_at: list[int] = []
    client = delivery_aws.client("sns")
    event = "before-send.sns.Publish"

    def record(**_: Any) -> None:  # runs after the gate (registered first, at creation)
        sent_at.append(now_ms())

    client.meta.events.register_first(event, record)
    try:
        ids = [service.schedule_sms(contactId=str(i)).json()["jobId"] for i in range(6)]
        for job_id in ids:
            service.wait_state(job_id, "completed")
    finally:
        client.meta.events.unregister(event, record)
    assert len(sent_at) == 6 and len(sent_sms()) == 6
    assert max_in_window(sent_at, 350) <= 2  # 50 ms of slack for clocks and threads
    assert max(sent_at) - min(sent_at) >= 2 * 400 - 50
