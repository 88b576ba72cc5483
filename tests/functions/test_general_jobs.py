"""The general job API end to end: POST /api/jobs (and /bulk, and seed 002's /api/bullmq/jobs)
-> job store -> scheduler -> worker -> the app (a real HTTP server on 127.0.0.1), with every
job option honoured by the engine, and the analytics counters read back."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any

import httpx
import pytest

from shared.delivery.signing import verify
from shared.general_jobs import types as job_types_module
from shared.jobs.queues import QUEUES, physical_names
from shared.jobs.store import JobState, JobStore
from shared.settings import settings
from tests.conftest import set_queue_limits, wait_for
from tests.functions.conftest import SECRET, Service
from tests.servers import Receiver

NOTIFY = "/api/queue/notifications"


@pytest.fixture(autouse=True)
def app_api(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app is the test receiver."""
    monkeypatch.setattr(settings, "app_api_url", receiver.url)


def add(service: Service, job_type: str, data: Any = None, **options: Any) -> httpx.Response:
    body: dict[str, Any] = {"jobType": job_type, "data": data or {}}
    if options:
        body["options"] = options
    return service.http.post("/api/jobs", json=body)


def count(queue: str, state: JobState) -> int:
    """Jobs of ``queue`` in ``state``, over its sub-queues when ``QUEUE_SHARDS`` splits it."""
    return sum(JobStore().count(name, state) for name in physical_names(queue))


def base(service: Service) -> str:
    return str(service.http.base_url).rstrip("/")


def queued(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def state_of(service: Service, job_id: str) -> str | None:
    """The job's state, or None once it is gone (404)."""
    response = service.http.get(f"/api/job-status/{job_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


def arrivals(receiver: Receiver, path: str, n: int, timeout_s: float = 10) -> list[float]:
    """Monotonic times at which the first ``n`` calls to ``path`` were seen (5 ms polling)."""
    times = []
    for count in range(1, n + 1):
        wait_for(
            lambda c=count: len(receiver.to(path)) >= c, timeout_s, f"call {count}", every_s=0.005
        )
        times.append(time.monotonic())
    return times


# -- the job types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_type", "path", "data"),
    [
        (
            "message-processing",
            "/api/queue/message-processing",
            {
                "messageId": "msg-123",
                "channelType": "whatsapp",
                "userId": "user-456",
                "content": "Hello!",
                "timestamp": "2026-12-02T06:00:00Z",
            },
        ),
        (
            "email-sending",
            "/api/queue/email-sending",
            {
                "to": "user@example.com",
                "from": "noreply@cortex.com",
                "subject": "Welcome!",
                "body": "Hello...",
                "html": "<p>Hello...</p>",
            },
        ),
        (
            "notifications",
            NOTIFY,
            {
                "userId": "user-123",
                "type": "email",
                "title": "New Message",
                "message": "You have a new message",
            },
        ),
    ],
)
def test_each_delivery_job_type_posts_its_seed_data_to_the_app_signed(
    service: Service, receiver: Receiver, job_type: str, path: str, data: dict[str, Any]
):
    response = add(service, job_type, data)
    job_id = queued(response)
    assert response.json() == {
        "success": True,
        "jobId": job_id,
        "jobType": job_type,
        "queue": job_type,
    }
    call = wait_for(lambda: receiver.to(path), what=f"{job_type} delivery")[0]
    assert call.json() == data | {"jobId": job_id, "jobType": job_type}
    assert call.headers["webhook-id"] == job_id and verify(SECRET, call.headers, call.body)
    status = service.wait_state(job_id, "completed")
    assert status["queue"] in physical_names(job_type) and status["result"]["status"] == 200


def test_without_app_api_url_a_delivery_job_fails_at_once_saying_why(
    service: Service, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "app_api_url", "")
    job_id = queued(add(service, "notifications", {"userId": "u"}))
    status = service.wait_state(job_id, "failed")
    assert status["attempts"] == 1 and "APP_API_URL is not set" in status["error"]


def test_the_queue_table_gives_the_seed_concurrencies():
    assert {
        name: QUEUES[name].concurrency
        for name in ("message-processing", "email-sending", "notifications", "analytics")
    } == {"message-processing": 10, "email-sending": 5, "notifications": 5, "analytics": 10}


def test_an_unknown_job_type_is_a_422_listing_the_known_ones(service: Service):
    response = add(service, "send-fax", {"to": "+1"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    known = problem["knownJobTypes"]
    assert {
        "message-processing",
        "email-sending",
        "notifications",
        "analytics",
        "track-event",
    } <= set(known)
    assert "sms" not in known and "failure-notices" not in known and "webhooks" not in known
    assert problem["errors"][0]["field"] == "jobType" and "send-fax" in problem["detail"]


def test_bad_bodies_and_options_are_422_and_write_nothing(service: Service, r):
    cases = [
        {"data": {}},  # no jobType
        {"jobType": "notifications", "data": [1, 2]},
        {"jobType": "notifications", "options": {"priority": 0}},
        {"jobType": "notifications", "options": {"priority": "1"}},
        {"jobType": "notifications", "options": {"attempts": 0}},
        {"jobType": "notifications", "options": {"delay": -1}},
        {"jobType": "notifications", "options": {"backoff": {"type": "linear", "delay": 5}}},
        {"jobType": "notifications", "options": {"removeOnComplete": -1}},
        {"jobType": "notifications", "options": {"removeOnComplete": {}}},
        {"jobType": "notifications", "options": {"removeOnFail": "yes"}},
        {"jobType": "notifications", "options": {"jobId": "has space"}},
        {"jobType": "track-event", "data": {"data": {}}},  # no event
        {"jobType": "track-event", "data": {"event": "a b"}},
        {"jobType": "track-event", "data": {"event": "x", "timestamp": "yesterday"}},
    ]
    for body in cases:
        response = service.http.post("/api/jobs", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"], body
    assert not list(r.scan_iter(match=f"{settings.redis_prefix}:*:job:*"))


def test_the_job_api_needs_a_key(service: Service):
    body = {"jobType": "notifications", "data": {}}
    assert httpx.post(f"{base(service)}/api/jobs", json=body).status_code == 401
    wrong = {"authorization": "Bearer nope"}
    assert httpx.post(f"{base(service)}/api/jobs", json=body, headers=wrong).status_code == 401


# -- options --------------------------------------------------------------------------------


def test_priority_1_runs_first(service: Service, receiver: Receiver, monkeypatch):
    set_queue_limits(monkeypatch, notifications={"concurrency": 1})
    for name in physical_names("notifications"):
        service.store.pause(name)
    for n, priority in enumerate([5, 9, 1, 3, 1]):
        queued(add(service, "notifications", {"n": n, "workspaceId": "w1"}, priority=priority))
    for name in physical_names("notifications"):
        service.store.resume(name)
    wait_for(lambda: len(receiver.to(NOTIFY)) == 5)
    assert [c.json()["n"] for c in receiver.to(NOTIFY)] == [2, 4, 3, 0, 1]


def test_delay_keeps_the_job_delayed_until_due(service: Service, receiver: Receiver):
    job_id = queued(add(service, "notifications", {"n": 1}, delay=1500))
    status = service.status(job_id)
    assert status["state"] == "delayed"
    done = service.wait_state(job_id, "completed")
    store = JobStore()
    job = store.get(job_id)
    assert job is not None and job.started_at is not None
    assert job.started_at - job.created_at >= 1500
    assert done["scheduledFor"] > done["createdAt"]


def test_attempts_bound_the_tries(service: Service, receiver: Receiver):
    receiver.script[NOTIFY] = [(500, {})] * 5
    options = {"attempts": 2, "backoff": {"type": "fixed", "delay": 50}}
    job_id = queued(add(service, "notifications", {"n": 1}, **options))
    status = service.wait_state(job_id, "failed")
    assert status["attempts"] == 2 and status["maxAttempts"] == 2
    assert len(receiver.to(NOTIFY)) == 2


def test_fixed_backoff_waits_the_same_and_exponential_doubles(service: Service, receiver: Receiver):
    gaps = {}
    for kind, path in (("fixed", NOTIFY), ("exponential", "/api/queue/email-sending")):
        receiver.script[path] = [(503, {})] * 3
        backoff = {"type": kind, "delay": 300}
        job_id = queued(
            add(service, path.rsplit("/", 1)[1], {"k": kind}, attempts=4, backoff=backoff)
        )
        times = arrivals(receiver, path, 4)
        gaps[kind] = [b - a for a, b in itertools.pairwise(times)]
        service.wait_state(job_id, "completed")
    # the engine scales each wait by a random factor in [0.8, 1.2]
    assert all(0.2 < gap < 0.6 for gap in gaps["fixed"]), gaps
    first, second, third = gaps["exponential"]
    assert 0.2 < first < 0.6 and 0.45 < second < 0.95 and 0.9 < third < 1.7, gaps


def test_a_client_job_id_replays_and_a_different_body_conflicts(service: Service, r):
    first = add(service, "notifications", {"n": 1}, jobId="order-42")
    again = add(service, "notifications", {"n": 1}, jobId="order-42")
    assert queued(first) == queued(again)
    assert again.headers["idempotent-replayed"] == "true"
    other = add(service, "notifications", {"n": 2}, jobId="order-42")
    assert other.status_code == 422 and other.json()["title"] == "Idempotency key reused"
    # the client's id reads the job too
    assert service.status("order-42")["jobId"] == queued(first)


def test_an_idempotency_key_header_replays_too_and_backoff_may_be_a_number(service: Service):
    body = {"jobType": "notifications", "data": {"n": 1}, "options": {"backoff": 100}}
    headers = {"idempotency-key": "req-7"}
    first = service.http.post("/api/jobs", json=body, headers=headers)
    again = service.http.post("/api/jobs", json=body, headers=headers)
    assert queued(first) == queued(again) and again.headers["idempotent-replayed"] == "true"
    job = JobStore().get(queued(first))
    assert job is not None and job.options["backoff"] == {"type": "fixed", "delay": 100}
    bad = service.http.post("/api/jobs", json=body, headers={"idempotency-key": "a b"})
    assert bad.status_code == 400


def test_remove_on_complete_true_deletes_the_job_at_once(service: Service, receiver: Receiver):
    job_id = queued(add(service, "notifications", {"n": 1}, removeOnComplete=True))
    wait_for(lambda: receiver.to(NOTIFY))
    wait_for(lambda: state_of(service, job_id) is None, what="job deleted")
    kept = queued(add(service, "notifications", {"n": 2}, removeOnComplete=False))
    service.wait_state(kept, "completed")


def test_remove_on_complete_count_keeps_the_newest_of_the_organisation(
    service: Service, receiver: Receiver, monkeypatch, api_key: str
):
    set_queue_limits(monkeypatch, notifications={"concurrency": 1})
    monkeypatch.setattr(settings, "api_keys", f"acme:{api_key},globex:other-key")
    globex = httpx.Client(
        base_url=service.http.base_url, headers={"authorization": "Bearer other-key"}
    )
    plain = queued(add(service, "notifications", {"n": "plain", "workspaceId": "w1"}))
    service.wait_state(plain, "completed")
    theirs = globex.post(
        "/api/jobs",
        json={"jobType": "notifications", "data": {}, "options": {"removeOnComplete": 1}},
    )
    theirs_id = queued(theirs)
    wait_for(lambda: JobStore().get(theirs_id).state == "completed")  # type: ignore[union-attr]
    ids = []
    for n in range(5):  # one after another, so "newest" is well defined
        ids.append(
            queued(add(service, "notifications", {"n": n, "workspaceId": "w1"}, removeOnComplete=2))
        )
        service.wait_state(ids[-1], "completed")
    assert [state_of(service, i) for i in ids] == [None, None, None, "completed", "completed"]
    assert state_of(service, plain) == "completed"  # no policy: queue retention only
    assert JobStore().get(theirs_id) is not None  # another organisation's: untouched


def test_remove_on_complete_age_deletes_older_kept_jobs(service: Service, r):
    old = queued(
        add(service, "notifications", {"n": 1, "workspaceId": "w1"}, removeOnComplete={"age": 1})
    )
    service.wait_state(old, "completed")
    finished = JobStore().get(old).finished_at  # type: ignore[union-attr]
    wait_for(lambda: JobStore().redis_time_ms() > finished + 1000, what="a second to pass")
    new = queued(
        add(
            service,
            "notifications",
            {"n": 2, "workspaceId": "w1"},
            removeOnComplete={"age": 1, "count": 5},
        )
    )
    service.wait_state(new, "completed")
    assert state_of(service, old) is None and state_of(service, new) == "completed"


def test_remove_on_fail_count_keeps_the_newest_failed(
    service: Service, receiver: Receiver, monkeypatch
):
    set_queue_limits(monkeypatch, notifications={"concurrency": 1})
    receiver.script[NOTIFY] = [(400, {})] * 3
    ids = []
    for n in range(3):
        ids.append(
            queued(add(service, "notifications", {"n": n, "workspaceId": "w1"}, removeOnFail=1))
        )
        service.wait_state(ids[-1], "failed")
    assert [state_of(service, i) for i in ids] == [None, None, "failed"]


# -- bulk -----------------------------------------------------------------------------------


def test_bulk_queues_every_job_in_order(service: Service, receiver: Receiver):
    jobs = [{"jobType": "notifications", "data": {"n": n}} for n in range(3)]
    response = service.http.post("/api/jobs/bulk", json={"jobs": jobs})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["success"] is True and body["count"] == 3 and len(set(body["jobIds"])) == 3
    wait_for(lambda: len(receiver.to(NOTIFY)) == 3)
    by_n = {c.json()["n"]: c.json()["jobId"] for c in receiver.to(NOTIFY)}
    assert [by_n[n] for n in range(3)] == body["jobIds"]


def test_bulk_with_a_body_job_type_and_options(service: Service):
    body = {
        "jobType": "track-event",
        "jobs": [{"data": {"event": "signup"}, "options": {"priority": 1}}] * 2,
    }

    response = service.http.post("/api/jobs/bulk", json=body)
    assert response.status_code == 202, response.text
    for job_id in response.json()["jobIds"]:
        assert service.wait_state(job_id, "completed")["priority"] == 1


def test_bulk_is_all_or_none(service: Service, r):
    store = JobStore()
    existing = queued(add(service, "notifications", {"n": 0}, jobId="taken"))
    service.wait_state(existing, "completed")
    bad_bodies = [
        # the third job's data is invalid for its type
        {
            "jobs": [{"jobType": "track-event", "data": {"event": "ok"}}] * 2
            + [{"jobType": "track-event", "data": {"event": ""}}]
        },
        # an unknown job type in the middle
        {"jobs": [{"jobType": "notifications"}, {"jobType": "nope"}, {"jobType": "notifications"}]},
        # two queues in one request
        {"jobs": [{"jobType": "notifications"}, {"jobType": "email-sending"}]},
        # a jobId reused with other data: the first job is not written either
        {
            "jobs": [
                {"jobType": "notifications", "data": {"n": 1}, "options": {"jobId": "fresh"}},
                {"jobType": "notifications", "data": {"n": 9}, "options": {"jobId": "taken"}},
            ]
        },
        # a jobId twice in one request
        {"jobs": [{"jobType": "notifications", "options": {"jobId": "twice"}}] * 2},
        # more than 1,000
        {"jobs": [{"jobType": "notifications"}] * 1001},
        {"jobs": []},
    ]
    for body in bad_bodies:
        response = service.http.post("/api/jobs/bulk", json=body)
        assert response.status_code == 422, response.text[:300]
    for queue in ("notifications", "email-sending", "analytics"):
        assert sum(count(queue, s) for s in ("delayed", "waiting", "active", "failed")) == 0
    assert count("notifications", "completed") == 1
    assert count("analytics", "completed") == 0
    assert store.id_for("org.acme", "fresh") is None
    problem = service.http.post("/api/jobs/bulk", json=bad_bodies[1]).json()
    assert problem["errors"][0]["field"] == "jobs.1.jobType" and problem["knownJobTypes"]


# -- inline job types (a queue's ``inline``) ---------------------------------------------------


def inline_answer(data: dict[str, Any], org: str) -> dict[str, Any] | None:
    """A test queue's inline function: answers small requests at once, queues the rest."""
    if len(data.get("ids", [])) <= 2:
        return {"checked": data.get("ids", []), "org": org}
    return None


def test_a_queue_with_inline_answers_small_requests_at_once_and_queues_the_rest(
    service: Service, receiver: Receiver, monkeypatch
):
    spec = replace(
        QUEUES["notifications"], inline=f"{__name__}:inline_answer", job_types=("check-now",)
    )
    monkeypatch.setattr(job_types_module, "QUEUES", QUEUES | {spec.name: spec})
    sync = add(service, "check-now", {"ids": ["a", "b"]})
    assert sync.status_code == 200, sync.text
    assert sync.json() == {
        "success": True,
        "jobType": "check-now",
        "mode": "sync",
        "result": {"checked": ["a", "b"], "org": "acme"},
    }
    assert count("notifications", "waiting") == 0
    job_id = queued(add(service, "check-now", {"ids": ["a", "b", "c"]}))
    service.wait_state(job_id, "completed")
    assert [c.json()["ids"] for c in receiver.to(NOTIFY)] == [["a", "b", "c"]]


# -- seed 002's alias -----------------------------------------------------------------------


def test_seed_002_post_bullmq_jobs_accepts_its_body_with_the_service_token(
    service: Service, receiver: Receiver, monkeypatch
):
    monkeypatch.setattr(settings, "service_token", "svc-token-123")
    body = {
        "jobType": "message-processing",
        "data": {"messageId": "m1", "userId": "user123", "workspaceId": "org123"},
    }

    response = httpx.post(
        f"{base(service)}/api/bullmq/jobs",
        json=body,
        headers={"authorization": "Bearer svc-token-123"},
    )
    job_id = queued(response)
    assert response.json()["queue"] == "message-processing"
    call = wait_for(lambda: receiver.to("/api/queue/message-processing"))[0]
    assert call.json()["messageId"] == "m1" and call.json()["jobId"] == job_id
    assert httpx.post(f"{base(service)}/api/bullmq/jobs", json=body).status_code == 401


# -- analytics --------------------------------------------------------------------------------


def test_tracked_events_are_counted_per_minute_and_organisation(
    service: Service, monkeypatch, api_key: str
):
    monkeypatch.setattr(settings, "api_keys", f"acme:{api_key},globex:other-key")
    globex = httpx.Client(
        base_url=service.http.base_url, headers={"authorization": "Bearer other-key"}
    )
    events = [
        ("message_sent", "2026-12-01T10:00:05Z"),
        ("message_sent", "2026-12-01T10:00:59Z"),
        ("message_sent", 1_796_119_260_000),  # 2026-12-01T10:01:00Z, epoch ms
        ("message_sent", "2026-12-01T10:05:00+00:00"),
        ("signup", "2026-12-01T10:00:10Z"),
        ("message_sent", "2026-12-01T11:00:00Z"),
    ]  # outside the range read below

    ids = [
        queued(
            add(
                service,
                "track-event",
                {"event": e, "data": {"tokens": 100}, "userId": "user-123", "timestamp": t},
            )
        )
        for e, t in events
    ]
    ids.append(
        queued(
            globex.post(
                "/api/jobs",
                json={
                    "jobType": "analytics",
                    "data": {"event": "message_sent", "timestamp": "2026-12-01T10:00:30Z"},
                },
            )
        )
    )
    for job_id in ids[:-1]:
        service.wait_state(job_id, "completed")
    wait_for(lambda: JobStore().get(ids[-1]).state == "completed")  # type: ignore[union-attr]
    query = {"event": "message_sent", "from": "2026-12-01T10:00:00Z", "to": "1796122800000"}
    response = service.http.get("/api/analytics", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 4 and body["org"] == "acme"
    assert body["minutes"] == [
        {"minute": "2026-12-01T10:00:00.000Z", "count": 2},
        {"minute": "2026-12-01T10:01:00.000Z", "count": 1},
        {"minute": "2026-12-01T10:05:00.000Z", "count": 1},
    ]
    theirs = globex.get("/api/analytics", params=query).json()
    assert theirs["total"] == 1 and theirs["org"] == "globex"
    # another organisation's counts are not readable with an API key
    assert service.http.get("/api/analytics", params=query | {"org": "globex"}).status_code == 403
    # every counter key lives under the analytics queue's tag and names the organisation
    keys = list(JobStore().client.scan_iter(match=f"{settings.redis_prefix}:*:counts:*"))
    assert keys and all(
        k.startswith(f"{settings.redis_prefix}:{{analytics}}:counts:") for k in keys
    )
    assert {k.split(":")[3] for k in keys} == {"acme", "globex"}


def test_a_retried_analytics_job_counts_once(service: Service, r):
    from shared.general_jobs.analytics import record

    job_id = queued(add(service, "track-event", {"event": "once", "timestamp": 1_796_119_200_000}))
    service.wait_state(job_id, "completed")
    job = JobStore().get(job_id)
    assert job is not None
    assert record(job)["counted"] is False  # a second run of the same job adds nothing
    query = {"event": "once", "from": "1796119200000", "to": "1796119260000"}
    assert service.http.get("/api/analytics", params=query).json()["total"] == 1


def test_analytics_queries_are_validated(service: Service):
    bad = [
        {},  # no event
        {"event": "a b"},
        {"event": "x", "from": "yesterday"},
        {"event": "x", "from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        {"event": "x", "from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},  # > 7 days
    ]
    for query in bad:
        response = service.http.get("/api/analytics", params=query)
        assert response.status_code == 422, (query, response.text)
    assert httpx.get(f"{base(service)}/api/analytics?event=x").status_code == 401
    empty = service.http.get("/api/analytics", params={"event": "never"}).json()
    assert empty["total"] == 0 and empty["minutes"] == []


def test_a_split_queue_is_one_job_type_not_one_per_sub_queue(monkeypatch):
    sub = replace(
        QUEUES["notifications"], name="notifications.0", code="Na", part_of="notifications"
    )
    monkeypatch.setattr(job_types_module, "QUEUES", QUEUES | {sub.name: sub})
    types = job_types_module.job_types()
    assert types["notifications"].name == "notifications" and "notifications.0" not in types


def test_seed_002_cron_job_types_run_their_cron_function_now_with_the_service_token(
    service: Service, r, monkeypatch
):
    from local import cron, manifest
    from shared.cron import registry
    from shared.jobs.queues import CRON_QUEUE, ready_key

    monkeypatch.setattr(settings, "service_token", "svc-token-123")
    registry.publish(cron.schedule_entries(manifest.load()))  # what every qs scheduler does
    url = f"{base(service)}/api/bullmq/jobs"
    before = r.llen(ready_key(CRON_QUEUE))
    for job_type, name in (("scheduled-messages", "process-scheduled-messages"),
                           ("health-check", "health-check")):  # fmt: skip
        response = httpx.post(
            url, json={"jobType": job_type, "data": {}},
            headers={"authorization": "Bearer svc-token-123"},
        )  # fmt: skip
        assert response.status_code == 202, response.text
        assert response.json()["name"] == name and response.json()["messageId"]
    assert r.llen(ready_key(CRON_QUEUE)) == before + 2  # one run of each, queued for a worker
    # an organisation's key may not run service-wide work
    refused = service.http.post("/api/jobs", json={"jobType": "health-check", "data": {}})
    assert refused.status_code == 403 and "SERVICE_TOKEN" in refused.json()["detail"]
    assert r.llen(ready_key(CRON_QUEUE)) == before + 2
    unknown = service.http.post("/api/jobs", json={"jobType": "nope", "data": {}}).json()
    assert {"scheduled-messages", "health-check"} <= set(unknown["knownJobTypes"])
