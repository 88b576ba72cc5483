"""``bulk-availability-check`` and ``integration-sync`` end to end: a real worker, the API over
HTTP, and a fake app on 127.0.0.1 serving leads, taking results and paging a sync."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.general_jobs import bulk_availability, integration_sync
from shared.http import Problem
from shared.jobs.queues import QUEUES
from shared.jobs.stopping import STOPPING
from shared.jobs.store import NewJob
from shared.settings import settings
from tests.conftest import wait_for
from tests.functions.conftest import SECRET, Service
from tests.functions.fake_app import FakeApp
from tests.servers import serve

#: A retry comes 50 ms after a failure (not the queue's 2 s), to keep the tests short.
QUICK_RETRY = {"backoff": {"type": "fixed", "delay": 50}}


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApp]:
    fake = FakeApp(secret=SECRET)
    with serve(fake.app()) as url:
        fake.url = url
        monkeypatch.setattr(settings, "app_api_url", url)
        monkeypatch.setattr(settings, "webhook_secret", SECRET)
        yield fake


def leads(n: int, *, reachable: bool = True) -> dict[str, dict[str, Any]]:
    """``n`` leads ``lead0``…: with an email (even) or a phone (odd), or neither."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(n):
        contact = {"email": f"l{i}@example.com"} if i % 2 == 0 else {"phone": "+1 415 555 0100"}
        out[f"lead{i}"] = {"firstName": f"L{i}", **(contact if reachable else {})}
    return out


def queue(service: Service, job_type: str, data: dict[str, Any], **options: Any) -> str:
    """``POST /api/jobs``: the job queued (202), its id."""
    body = {"jobType": job_type, "data": data} | ({"options": options} if options else {})
    response = service.http.post("/api/jobs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def test_up_to_ten_leads_are_checked_in_the_call_from_fresh_data(app: FakeApp, redis_prefix):
    app.leads = leads(9) | {"lead9": {"firstName": "No contact"}}
    ids = [f"lead{i}" for i in range(10)] + ["lead9"]  # a repeat is checked once
    data = {"leadIds": ids, "userId": "u1", "workspaceId": "ws1"}
    answer = bulk_availability.inline(data, "acme")
    assert answer is not None and set(answer) == {"results", "summary"}
    assert [r["leadId"] for r in answer["results"]] == [f"lead{i}" for i in range(10)]
    assert answer["results"][0] == {"leadId": "lead0", "available": True, "email": True,
                                    "phone": False, "reason": None}  # fmt: skip
    assert answer["results"][1]["phone"] and answer["results"][1]["available"]
    assert answer["results"][9]["reason"] == "needs a valid email or phone number"
    assert answer["summary"] == {"checked": 10, "available": 9, "unavailable": 1, "notFound": 0}
    assert app.lead_requests == [[f"lead{i}" for i in range(10)]], "one GET, by id"
    assert app.unsigned == [] and app.results == [], "answered in the call, nothing posted"


def test_post_api_jobs_answers_up_to_ten_leads_at_once_and_queues_nothing(
    app: FakeApp, service: Service, r, redis_prefix: str
):
    app.leads = leads(3)
    body = {
        "jobType": "bulk-availability-check",
        "data": {"leadIds": ["lead0", "lead1", "lead2"], "userId": "u1", "workspaceId": "w"},
    }
    for path in ("/api/jobs", "/api/bullmq/jobs"):  # and seed 002's own path
        response = service.http.post(path, json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["mode"] == "sync" and answer["jobType"] == "bulk-availability-check"
        assert answer["result"]["summary"] == {"checked": 3, "available": 3, "unavailable": 0,
                                               "notFound": 0}  # fmt: skip
    assert len(app.lead_requests) == 2
    assert service.store.count("bulk-availability", "waiting") == 0
    assert not list(r.scan_iter(match=f"{redis_prefix}:{{bulk-availability}}:job:*"))


def test_post_api_jobs_refuses_bad_data_with_a_422_and_queues_nothing(
    app: FakeApp, service: Service
):
    for job_type, data, field in [
        ("bulk-availability-check", {"leadIds": [], "userId": "u", "workspaceId": "w"},
         "data.leadIds"),
        ("bulk-availability-check", {"leadIds": [f"l{i}" for i in range(11)], "userId": "u"},
         "data.workspaceId"),
        ("integration-sync", {"provider": "pipedrive", "workspaceId": "w"}, "data.provider"),
    ]:  # fmt: skip
        response = service.http.post("/api/jobs", json={"jobType": job_type, "data": data})
        assert response.status_code == 422, response.text
        assert field in [e["field"] for e in response.json()["errors"]]
    assert service.store.count("bulk-availability", "waiting") == 0
    assert service.store.count("integration-sync", "waiting") == 0
    assert app.lead_requests == [] and app.sync_calls == []


def test_a_lead_the_app_does_not_return_is_not_found(app: FakeApp, redis_prefix):
    app.leads = leads(1) | {"42": {"phone": "+44 20 7946 0958"}}
    answer = bulk_availability.inline({"leadIds": ["lead0", "x", 42], "userId": "u",
                                       "workspaceId": "w"}, "acme")  # fmt: skip
    assert answer is not None
    assert answer["results"][1] == {"leadId": "x", "available": False, "email": False,
                                    "phone": False, "reason": "lead not found"}  # fmt: skip
    assert answer["results"][2]["leadId"] == "42" and answer["results"][2]["available"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"userId": "u", "workspaceId": "w"}, "data.leadIds"),
        ({"leadIds": [], "userId": "u", "workspaceId": "w"}, "data.leadIds"),
        ({"leadIds": ["a,b"], "userId": "u", "workspaceId": "w"}, "data.leadIds.0"),
        ({"leadIds": [True], "userId": "u", "workspaceId": "w"}, "data.leadIds.0"),
        ({"leadIds": ["a b"], "userId": "u", "workspaceId": "w"}, "data.leadIds.0"),
        ({"leadIds": ["a"], "workspaceId": "w"}, "data.userId"),
        ({"leadIds": ["a"] * 10_001, "userId": "u", "workspaceId": "w"}, "data.leadIds"),
    ],
)
def test_bad_bulk_check_data_is_a_422_naming_the_field(data, field, app: FakeApp):
    with pytest.raises(Problem) as refused:
        bulk_availability.inline(data, "acme")
    assert refused.value.status == 422
    assert field in [e["field"] for e in refused.value.extensions["errors"]]
    assert app.lead_requests == []


def test_the_sync_check_says_502_when_the_app_fails(app: FakeApp, monkeypatch):
    monkeypatch.setattr(settings, "leads_endpoint", "/nope")
    with pytest.raises(Problem) as failed:
        bulk_availability.inline({"leadIds": ["a"], "userId": "u", "workspaceId": "w"}, "acme")
    assert failed.value.status == 502 and "HTTP 404" in str(failed.value.detail)


def test_the_sync_check_waits_for_the_app_only_so_long(app: FakeApp, monkeypatch):
    monkeypatch.setattr(bulk_availability, "SYNC_TIMEOUT_S", 0.2)
    app.leads_delay_s = 3
    started = time.monotonic()
    with pytest.raises(Problem) as failed:
        bulk_availability.inline({"leadIds": ["a"], "userId": "u", "workspaceId": "w"}, "acme")
    assert failed.value.status == 502 and "timed out after 0.2 s" in str(failed.value.detail)
    assert time.monotonic() - started < 2


def test_more_than_ten_leads_are_queued_checked_by_id_in_pages_and_posted_back(
    app: FakeApp, service: Service
):
    app.leads = leads(140) | {"lead140": {"firstName": "x", "phone": "12"}}
    ids = [f"lead{i}" for i in range(150)]
    data = {"leadIds": ids, "userId": "u1", "workspaceId": "ws1"}
    assert bulk_availability.inline(data, "acme") is None, "more than 10: queued"
    job_id = queue(service, "bulk-availability-check", data)
    assert job_id.startswith("B")
    assert service.store.get(job_id).data == data, "Redis holds only the ids"
    status = service.wait_state(job_id, "completed")
    assert app.lead_requests == [ids[:100], ids[100:]], "fresh data by id, 100 per request"
    (posted,) = app.results
    assert posted["jobId"] == job_id and posted["userId"] == "u1" and posted["workspaceId"] == "ws1"
    assert [r["leadId"] for r in posted["results"]] == ids
    assert posted["summary"] == {"checked": 150, "available": 140, "unavailable": 10,
                                 "notFound": 9}  # fmt: skip
    assert app.unsigned == []
    assert status["progress"] == {"checked": 150, "total": 150, "percent": 100}
    assert status["logs"] == ["checked 100/150", "checked 150/150"]
    assert status["result"]["summary"] == posted["summary"]
    assert "results" not in status["result"], "the job keeps the summary, not lead results"


def test_an_integration_sync_retried_after_page_3_failed_resumes_at_page_3(
    app: FakeApp, service: Service
):
    app.pages, app.fail_page = 5, {3: 1}
    data = {"provider": "hubspot", "workspaceId": "ws1"}
    assert integration_sync.inline(data, "acme") is None
    job_id = queue(service, "integration-sync", data, **QUICK_RETRY)
    status = service.wait_state(job_id, "completed")
    assert app.pages_fetched() == [1, 2, 3, 3, 4, 5], "pages 1-2 were not fetched again"
    assert [c["cursor"] for c in app.sync_calls] == [None, "c2", "c3", "c3", "c4", "c5"]
    assert {c["provider"] for c in app.sync_calls} == {"hubspot"} and app.unsigned == []
    assert status["attempts"] == 2
    assert status["progress"] == {"page": 6, "cursor": None, "synced": 50, "done": True,
                                  "total": 50, "percent": 100}  # fmt: skip
    assert status["result"] == {"provider": "hubspot", "pages": 5, "synced": 50}
    assert "resuming at page 3" in status["logs"]
    assert status["logs"][:2] == ["page 1: 10 synced", "page 2: 10 synced"]


def test_a_sync_whose_worker_stops_is_handed_back_after_its_page_and_goes_on_from_there(
    app: FakeApp, service: Service
):
    app.on_page[2] = STOPPING.set  # the worker is told to stop while page 2 is synced
    try:
        job_id = queue(service, "integration-sync", {"provider": "hubspot", "workspaceId": "w"})
        handed_back = wait_for(
            lambda: (s := service.status(job_id))["state"] == "waiting" and s["progress"] and s,
            10, "the job handed back with its progress",
        )  # fmt: skip
        assert handed_back["attempts"] == 0, "the attempt is not counted"
        assert handed_back["progress"]["page"] == 3 and handed_back["progress"]["cursor"] == "c3"
        assert app.pages_fetched() == [1, 2]
    finally:
        STOPPING.clear()  # the next worker (here: the same one) takes it
    status = service.wait_state(job_id, "completed")
    assert app.pages_fetched() == [1, 2, 3, 4, 5] and status["attempts"] == 1
    assert "resuming at page 3" in status["logs"]


def test_a_sync_whose_app_answers_the_same_cursor_again_fails_at_once(
    app: FakeApp, service: Service
):
    app.stuck_page = 2
    job_id = queue(service, "integration-sync", {"provider": "hubspot", "workspaceId": "w"})
    status = service.wait_state(job_id, "failed")
    assert status["attempts"] == 1 and "answered its own cursor again" in status["error"]
    assert app.pages_fetched() == [1, 2]


def test_a_sync_given_a_cursor_starts_there(app: FakeApp, service: Service):
    data = {"provider": "salesforce", "workspaceId": "ws1", "cursor": "c4"}
    job_id = queue(service, "integration-sync", data)
    service.wait_state(job_id, "completed")
    assert [c["cursor"] for c in app.sync_calls] == ["c4", "c5"]


def test_progress_shows_while_a_sync_runs(app: FakeApp, service: Service):
    app.pages, app.fail_page = 3, {2: 100}  # page 2 keeps failing: the job waits to retry
    job_id = queue(service, "integration-sync", {"provider": "google-sheets", "workspaceId": "w"},
                   backoff={"type": "fixed", "delay": 60_000})  # fmt: skip
    status = service.wait_state(job_id, "delayed")
    assert status["progress"] == {"page": 2, "cursor": "c2", "synced": 10, "done": False,
                                  "total": 30, "percent": 33}  # fmt: skip
    assert "HTTP 500" in status["error"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"provider": "pipedrive", "workspaceId": "w"}, "data.provider"),
        ({"provider": "hubspot"}, "data.workspaceId"),
        ({"provider": "hubspot", "workspaceId": "w", "cursor": ""}, "data.cursor"),
    ],
)
def test_bad_sync_data_is_a_422_naming_the_field(data, field):
    with pytest.raises(Problem) as refused:
        integration_sync.inline(data, "acme")
    assert field in [e["field"] for e in refused.value.extensions["errors"]]


def test_a_sync_without_app_api_url_fails_at_once(service: Service, monkeypatch):
    monkeypatch.setattr(settings, "app_api_url", "")
    job_id = queue(service, "integration-sync", {"provider": "hubspot", "workspaceId": "w"})
    status = service.wait_state(job_id, "failed")
    assert status["attempts"] == 1 and "APP_API_URL" in status["error"]


def test_bad_check_data_is_a_422_in_bulk_and_fails_at_once_in_a_worker(
    app: FakeApp, service: Service
):
    body = {"jobType": "bulk-availability-check", "jobs": [{"data": {"leadIds": []}}]}
    response = service.http.post("/api/jobs/bulk", json=body)
    assert response.status_code == 422, response.text  # validated like a single job
    assert "jobs.0.data.leadIds" in response.json()["detail"]
    assert service.store.count("bulk-availability", "waiting") == 0
    # a job whose data does not fit (written by some other way) fails for good at its first try
    spec = QUEUES["bulk-availability"]
    bad = NewJob(
        queue=spec.name, actor=spec.actor, data={"leadIds": []}, due_ms=0, max_attempts=3,
        org="acme",
    )  # fmt: skip
    job_id = service.store.create(bad).job_id
    status = service.wait_state(job_id, "failed")
    assert status["attempts"] == 1 and "invalid job data: leadIds" in status["error"]
    assert app.lead_requests == []
