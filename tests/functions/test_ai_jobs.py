"""The AI jobs API (``/v1/jobs``, ``/v1/usage``) against the real service: the offline
provider and a real fake OpenAI-compatible server on 127.0.0.1, organisations kept apart,
usage sums and signed webhooks to a real receiver."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.delivery.signing import verify
from shared.settings import settings
from tests.conftest import wait_for
from tests.functions.conftest import SECRET, Service
from tests.servers import FakeOpenAI, Receiver

TEXT = (
    "Our team met on Monday to review the billing migration. The new invoice system cut "
    "payment errors by half. Support tickets about refunds dropped sharply after the change. "
    "Next quarter we will move the remaining customers."
)


@pytest.fixture
def other_org(service: Service, api_key: str, monkeypatch: pytest.MonkeyPatch) -> httpx.Client:
    """A client of a second organisation (``globex``); the service's own is ``acme``."""
    key = "globex-" + uuid.uuid4().hex
    monkeypatch.setattr(settings, "api_keys", f"acme:{api_key},globex:{key}")
    return httpx.Client(base_url=service.http.base_url, headers={"authorization": f"Bearer {key}"})


def wait_status(client: httpx.Client, job_id: str, status: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        job = client.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] == status else None

    return wait_for(reached, what=f"job {job_id} {status}")  # type: ignore[no-any-return]


def test_a_summary_job_runs_on_the_offline_provider(service: Service):
    created = service.http.post("/v1/jobs/summarize", json={"text": TEXT})
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["type"] == "SUMMARIZE" and job["status"] in ("QUEUED", "PROCESSING", "SUCCEEDED")
    assert job["input"] == {"text": TEXT, "options": {"maxSentences": 3}}, "defaults made explicit"
    done = wait_status(service.http, job["id"], "SUCCEEDED")
    assert "invoice system cut payment errors by half" in done["output"]["summary"]
    assert done["provider"] == "local" and done["tokenUsed"] > 0 and done["costCents"] == 0
    assert done["completedAt"] and done["startedAt"] and done["error"] is None


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/jobs/poem", {"text": "x"}, 404, None),
        ("/v1/jobs/translate", {"text": "hello"}, 422, "options.targetLanguage"),
        ("/v1/jobs/summarize", {"text": "   "}, 422, "text"),
        ("/v1/jobs/summarize", {"text": "x" * 101}, 422, "text"),
        ("/v1/jobs/classify", {"text": "x", "options": {"priority": 0}}, 422, "options.priority"),
        (
            "/v1/jobs/classify",
            {"text": "x", "options": {"webhookUrl": "https://evil.example/h"}},
            422,
            "options.webhookUrl",
        ),
    ],
)
def test_bad_requests_are_problems_and_write_nothing(
    service: Service, monkeypatch: pytest.MonkeyPatch, path, body, status, field
):
    monkeypatch.setattr(settings, "ai_max_text_bytes", 100)
    answer = service.http.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if field:
        assert field in [e["field"] for e in answer.json()["errors"]]
    assert service.http.get("/v1/jobs").json()["total"] == 0


def test_an_organisation_sees_only_its_own_jobs(service: Service, other_org: httpx.Client):
    mine = service.http.post("/v1/jobs/sentiment", json={"text": "I love it"}).json()["id"]
    theirs = other_org.post("/v1/jobs/sentiment", json={"text": "awful"}).json()["id"]
    assert other_org.get(f"/v1/jobs/{mine}").status_code == 404
    assert service.http.get(f"/v1/jobs/{theirs}").status_code == 404
    assert [j["id"] for j in service.http.get("/v1/jobs").json()["jobs"]] == [mine]
    assert [j["id"] for j in other_org.get("/v1/jobs").json()["jobs"]] == [theirs]
    sms = service.schedule_sms(delay=60_000).json()["jobId"]
    assert service.http.get(f"/v1/jobs/{sms}").status_code == 404, "not an AI job"


def test_listing_filters_by_status_and_type_and_pages_newest_first(service: Service):
    ids = {}
    for kind in ("sentiment", "extract", "sentiment"):
        job = service.http.post(f"/v1/jobs/{kind}", json={"text": "mail me at a@b.co"}).json()
        ids.setdefault(kind, []).append(job["id"])
        wait_status(service.http, job["id"], "SUCCEEDED")
    every = service.http.get("/v1/jobs").json()
    assert every["total"] == 3
    assert [j["id"] for j in every["jobs"]] == [
        ids["sentiment"][1],
        ids["extract"][0],
        ids["sentiment"][0],
    ]
    page = service.http.get(
        "/v1/jobs", params={"type": "SENTIMENT", "limit": 1, "offset": 1}
    ).json()
    assert page["total"] == 2 and [j["id"] for j in page["jobs"]] == [ids["sentiment"][0]]
    done = service.http.get("/v1/jobs", params={"status": "succeeded"}).json()
    assert done["total"] == 3
    assert service.http.get("/v1/jobs", params={"status": "FAILED"}).json()["total"] == 0
    bad = service.http.get("/v1/jobs", params={"status": "LOST"})
    assert bad.status_code == 400 and "QUEUED" in bad.json()["detail"]
    assert service.http.get("/v1/jobs", params={"limit": 1000}).status_code == 422


def test_tokens_and_cost_are_recorded_and_summed_per_organisation_and_type(
    service: Service, openai: FakeOpenAI, other_org: httpx.Client
):
    openai.content = '{"label": "positive", "score": 0.9}'
    openai.script = [(429, {"retry-after": "1"}), (500, {})]  # retried by the provider
    first = service.http.post("/v1/jobs/sentiment", json={"text": "good"}).json()["id"]
    done = wait_status(service.http, first, "SUCCEEDED")
    assert done["output"] == {"label": "positive", "score": 0.9}
    assert done["tokenUsed"] == 40 and done["costCents"] == 0.1 and done["provider"] == "openai"
    assert len(openai.requests) == 3 and openai.requests[0]["model"] == "fake-model"
    second = service.http.post("/v1/jobs/sentiment", json={"text": "fine"}).json()["id"]
    wait_status(service.http, second, "SUCCEEDED")
    theirs = other_org.post("/v1/jobs/sentiment", json={"text": "meh"}).json()["id"]
    wait_status(other_org, theirs, "SUCCEEDED")
    usage = service.http.get("/v1/usage").json()
    assert usage["org"] == "acme"
    assert usage["byType"] == {"sentiment": {"jobs": 2, "tokens": 80, "costCents": 0.2}}
    assert usage["total"] == {"jobs": 2, "tokens": 80, "costCents": 0.2}
    assert other_org.get("/v1/usage").json()["total"]["jobs"] == 1


def test_a_provider_refusal_fails_the_job_at_once(service: Service, openai: FakeOpenAI):
    openai.script = [(400, {})]
    job_id = service.http.post("/v1/jobs/classify", json={"text": "x"}).json()["id"]
    failed = wait_status(service.http, job_id, "FAILED")
    assert failed["attempts"] == 1 and "400" in failed["error"] and failed["output"] is None


def test_a_provider_timeout_is_retried_by_the_job(
    service: Service, openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "ai_timeout_s", 0.3)
    monkeypatch.setattr(settings, "ai_max_retries", 0)
    openai.content = '{"label": "billing"}'
    openai.delays_s = [1.0]  # the first answer comes too late
    job_id = service.http.post(
        "/v1/jobs/classify", json={"text": "invoice", "options": {"labels": ["billing"]}}
    ).json()["id"]
    wait_for(lambda: service.store.get(job_id).state == "delayed", what="a retry after the timeout")  # type: ignore[union-attr]
    assert "no answer" in (service.store.get(job_id).error or "")  # type: ignore[union-attr]
    service.store.reschedule(job_id, 0)  # skip the 2 s back-off
    done = wait_status(service.http, job_id, "SUCCEEDED")
    assert done["attempts"] == 2 and done["output"]["label"] == "billing"


def test_the_finished_record_is_posted_to_the_webhook_signed(service: Service, receiver: Receiver):
    hook = receiver.url + "/hooks/ai"
    job = service.http.post(
        "/v1/jobs/extract", json={"text": "Call +1 415 555 0123", "options": {"webhookUrl": hook}}
    ).json()
    wait_for(lambda: receiver.to("/hooks/ai"), what="the webhook")
    (call,) = receiver.to("/hooks/ai")
    record = call.json()
    assert record == service.http.get(f"/v1/jobs/{job['id']}").json()
    assert record["status"] == "SUCCEEDED" and record["output"]["phones"]
    assert verify(SECRET, call.headers, call.body)
    assert call.headers["webhook-id"] != job["id"], (
        "the webhook job's own id, stable across retries"
    )


def test_a_webhook_retry_carries_the_same_webhook_id(service: Service, receiver: Receiver):
    receiver.script["/hooks/ai"] = [(503, {})]
    hook = receiver.url + "/hooks/ai"
    job = service.http.post(
        "/v1/jobs/sentiment", json={"text": "great", "options": {"webhookUrl": hook}}
    )
    first = wait_for(lambda: receiver.to("/hooks/ai"), what="the webhook")[0]
    webhook_id = first.headers["webhook-id"]
    assert webhook_id != job.json()["id"] and webhook_id.startswith("W")
    wait_for(lambda: service.store.get(webhook_id).state == "delayed", what="the webhook's retry")  # type: ignore[union-attr]
    service.store.reschedule(webhook_id, 0)  # skip the 2 s back-off
    calls = wait_for(lambda: receiver.to("/hooks/ai")[1:] and receiver.to("/hooks/ai"))
    assert [c.headers["webhook-id"] for c in calls] == [webhook_id, webhook_id]
