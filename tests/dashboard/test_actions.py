"""The dashboard's actions over HTTP: each answers what changed, is written to the audit log
(who, what, when) and shows on the page; the effects are read back through the job store and
the API."""

from __future__ import annotations

import re
from typing import Any

import httpx

from shared.jobs.keys import queue_key
from tests.dashboard.conftest import ADMIN, Dashboard


def act(client: httpx.Client, action: str, status: int = 200, **body: Any) -> dict[str, Any]:
    page = client.get("/admin/queues")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token
    answer = client.post(f"/admin/queues/actions/{action}", json=body,
                         headers={"x-csrf-token": token.group(1)})  # fmt: skip
    assert answer.status_code == status, answer.text
    return answer.json()  # type: ignore[no-any-return]


def state(d: Dashboard, job_id: str) -> str | None:
    job = d.store.get(job_id)
    return job.state if job else None


def test_job_actions_answer_what_changed_and_are_audited(dashboard: Dashboard):
    admin = dashboard.client()
    failed = dashboard.job(ws="w1")
    dashboard.fail(failed, "Traceback (most recent call last):\n  ...\nValueError: bad number")
    detail = admin.get(f"/admin/queues/job/{failed}").text
    assert "ValueError: bad number" in detail and "failed" in detail
    retried = act(admin, "job-retry", jobId=failed)
    assert retried["changed"] == {"state": "waiting"} and state(dashboard, failed) == "waiting"
    assert act(admin, "job-retry", 409, jobId=failed)["detail"].endswith("cannot be retried.")

    later = dashboard.job(delay_ms=3_600_000)
    assert (
        act(admin, "job-reschedule", jobId=later, delayMs=7_200_000)["changed"]["state"]
        == "delayed"
    )
    job = dashboard.store.get(later)
    assert job and job.scheduled_for - job.created_at >= 7_100_000
    assert act(admin, "job-promote", jobId=later)["changed"] == {"state": "waiting"}

    copy = act(admin, "job-duplicate", jobId=failed, data={"message": "edited"})
    new_id = copy["changed"]["newJobId"]
    duplicate = dashboard.store.get(new_id)
    assert duplicate and duplicate.data == {"message": "edited"} and duplicate.workspace_id == "w1"

    assert act(admin, "job-remove", jobId=later)["changed"] == {"state": "removed"}
    assert state(dashboard, later) is None
    assert act(admin, "job-remove", 404, jobId=later)["status"] == 404

    page = admin.get(f"/admin/queues/job/{failed}").text
    assert "job-retry" in page and ADMIN[0] in page  # the audit log, on the job's page
    overview = admin.get("/admin/queues").text
    for action in ("job-retry", "job-reschedule", "job-promote", "job-duplicate", "job-remove"):
        assert action in overview


def test_queue_actions(dashboard: Dashboard):
    admin = dashboard.client()
    client = dashboard.store.client
    assert act(admin, "queue-pause", queue="sms")["changed"] == {"paused": True}
    assert client.exists(queue_key("sms", "paused"))
    assert act(admin, "queue-resume", queue="sms")["changed"]["paused"] is False
    assert not client.exists(queue_key("sms", "paused"))

    failed = [dashboard.job(ws="wa"), dashboard.job(ws="wb"), dashboard.job(ws="wb")]
    for job_id in failed:
        dashboard.fail(job_id)
    only_wb = act(admin, "queue-retry-failed", queue="sms", filter={"workspaceId": "wb"})
    assert only_wb["changed"]["retried"] == 2
    assert [state(dashboard, j) for j in failed] == ["failed", "waiting", "waiting"]
    assert act(admin, "queue-retry-failed", queue="sms")["changed"] == {"retried": 1}

    delayed = [dashboard.job(delay_ms=600_000) for _ in range(3)]
    assert act(admin, "queue-promote-delayed", queue="sms")["changed"]["promoted"] == 3
    assert {state(dashboard, j) for j in delayed} == {"waiting"}

    drained = act(admin, "queue-drain", queue="sms")["changed"]["removed"]
    assert drained["waiting"] >= 6 and client.zcard(queue_key("sms", "jobs", "waiting")) == 0

    gone = dashboard.job()
    dashboard.fail(gone)
    assert act(admin, "queue-clean", queue="sms", state="failed")["changed"]["removed"] == 1
    assert act(admin, "queue-clean", 422, queue="sms", state="active")["status"] == 422
    assert act(admin, "queue-pause", 404, queue="nope")["status"] == 404
    assert act(admin, "fly", 404, queue="sms")["status"] == 404
    assert act(admin, "queue-pause", 422, queue="sms", extra=1)["status"] == 422
    assert "queue-drain" in admin.get("/admin/queues/queue/sms").text  # audited on its page


def test_add_a_job_is_checked_as_the_job_api_checks_it(dashboard: Dashboard):
    admin = dashboard.client()
    body = {"jobType": "notifications", "data": {"userId": "u1", "title": "hi"},
            "options": {"delay": 60_000, "priority": 2}}  # fmt: skip
    added = act(admin, "queue-add-job", queue="notifications", job=body)
    job = dashboard.store.get(added["changed"]["jobId"])
    assert job and job.queue == "notifications" and job.state == "delayed"
    assert job.data == body["data"] and job.priority == 2 and job.org == "admin"
    assert added["target"] == "notifications"
    unknown = act(admin, "queue-add-job", 422, job={"jobType": "nope", "data": {}})
    assert "notifications" in unknown["knownJobTypes"]
    invalid = act(admin, "queue-add-job", 422, job={"jobType": "notifications", "data": []})
    assert invalid["errors"][0]["field"] == "data"
    assert act(admin, "queue-add-job", 422)["detail"].startswith("queue-add-job needs job")


def test_retry_all_failed_matching_a_text_search_takes_every_match(dashboard: Dashboard):
    matching = [dashboard.job(data={"message": f"invoice {i}"}) for i in range(230)]
    others = [dashboard.job(data={"message": f"receipt {i}"}) for i in range(20)]
    for job_id in matching + others:
        dashboard.fail(job_id)
    admin = dashboard.client()
    done = act(admin, "queue-retry-failed", queue="sms", filter={"q": "invoice"})
    assert done["changed"]["retried"] == 230  # more than one page of the failed tab
    assert {state(dashboard, j) for j in matching} == {"waiting"}
    assert {state(dashboard, j) for j in others} == {"failed"}
