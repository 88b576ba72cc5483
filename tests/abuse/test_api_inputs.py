"""Hostile input on the HTTP API: blank ids, unbounded paging, loose numbers, missing keys,
oversized bodies and request smuggling; each is a clear 4xx with nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from local.gateway import build_app
from shared.settings import settings
from tests.abuse.conftest import Gateway, job_keys
from tests.servers import serve

SMS = {"phoneNumber": "+14155550123", "message": "hi", "contactId": "c1", "workspaceId": "w1"}
EMAIL = {
    "to": "a@example.com", "subject": "s", "html": "<p>x</p>", "contactId": "c1",
    "workspaceId": "w1",
}  # fmt: skip
AI_RESPONSE = {
    "workspace_id": "w1", "contact_id": "+14155550123", "message_id": "m1",
    "message_text": "Can we meet on Friday?", "callback_url": "http://127.0.0.1:9/cb",
}  # fmt: skip


@pytest.fixture
def api(redis_prefix: str, api_key: str) -> Iterator[httpx.Client]:
    """The project's gateway in-process (APP_ENV=dev), with a valid key on every request."""
    with (
        serve(build_app()) as url,
        httpx.Client(base_url=url, headers={"authorization": f"Bearer {api_key}"}) as client,
    ):
        yield client


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    doc: dict[str, Any] = response.json()
    assert doc["status"] == status
    return doc


def fields(response: httpx.Response) -> set[str]:
    return {e["field"] for e in problem(response, 422)["errors"]}


def nothing_written(r: redis.Redis, prefix: str) -> None:
    assert job_keys(r, prefix) == [], "a refused request wrote job keys"


# --- Blank ids --------------------------------------------------------------------------------

BLANKS = ["   ", "\t\n", "\u200b", " \u200b\u2060 ", "\ufeff"]


@pytest.mark.parametrize("blank", BLANKS, ids=repr)
def test_a_blank_workspace_or_contact_id_is_422_on_every_endpoint_with_nothing_written(
    api: httpx.Client, r: redis.Redis, redis_prefix: str, blank: str
):
    for path, body, workspace, contact in (
        ("/api/schedule-sms", SMS, "workspaceId", "contactId"),
        ("/api/schedule-email", EMAIL, "workspaceId", "contactId"),
        ("/api/ai-response", AI_RESPONSE, "workspace_id", "contact_id"),
    ):
        assert fields(api.post(path, json=body | {workspace: blank})) == {workspace}, path
        assert fields(api.post(path, json=body | {contact: blank})) == {contact}, path
    bulk = {"messages": [SMS, SMS | {"workspaceId": blank}]}
    assert fields(api.post("/api/schedule-sms/bulk", json=bulk)) == {"messages.1.workspaceId"}
    message_id = AI_RESPONSE | {"message_id": blank}
    assert fields(api.post("/api/ai-response", json=message_id)) == {"message_id"}
    nothing_written(r, redis_prefix)


def test_ids_with_visible_text_are_still_accepted_and_stripped(api: httpx.Client):
    answer = api.post("/api/schedule-sms", json=SMS | {"workspaceId": "  w 1  ", "contactId": 7})
    assert answer.status_code == 202, answer.text
    status = api.get(f"/api/job-status/{answer.json()['jobId']}")
    assert status.status_code == 200


# --- Paging bounds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("offset=9223372036854775800", "offset"),
        ("offset=1000001", "offset"),
        ("offset=-1", "offset"),
        ("offset=1e3", "offset"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=99999999999999999999", "limit"),
    ],
)
def test_a_page_out_of_bounds_is_422_not_a_500(api: httpx.Client, query: str, field: str):
    assert fields(api.get(f"/v1/jobs?{query}")) == {field}


def test_the_largest_allowed_page_still_answers(api: httpx.Client):
    page = api.get("/v1/jobs?offset=1000000&limit=100")
    assert page.status_code == 200, page.text
    assert page.json()["jobs"] == [] and page.json()["offset"] == 1_000_000


# --- Strict numbers ---------------------------------------------------------------------------

LOOSE_INTEGERS = ["3", 3.0, True, "1e3", None]


@pytest.mark.parametrize("value", LOOSE_INTEGERS[:3], ids=repr)
def test_options_priority_must_be_a_json_integer_on_every_api(
    api: httpx.Client, r: redis.Redis, redis_prefix: str, value: Any
):
    options = {"options": {"priority": value}}
    assert fields(api.post("/api/schedule-sms", json=SMS | options)) == {"options.priority"}
    assert fields(api.post("/api/schedule-email", json=EMAIL | options)) == {"options.priority"}
    bulk = {"messages": [SMS | options]}
    answer = api.post("/api/schedule-sms/bulk", json=bulk)
    assert fields(answer) == {"messages.0.options.priority"}
    assert fields(api.post("/api/ai-response", json=AI_RESPONSE | options)) == {"options.priority"}
    ai_job = {"text": "Hello there.", **options}
    assert fields(api.post("/v1/jobs/summarize", json=ai_job)) == {"options.priority"}
    nothing_written(r, redis_prefix)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delay": "1e3"}, "delay"),
        ({"delay": "1000"}, "delay"),
        ({"delay": True}, "delay"),
        ({"options": {"attempts": "3"}}, "options.attempts"),
        ({"options": {"attempts": 3.0}}, "options.attempts"),
        ({"options": {"backoff": {"type": "fixed", "delay": "1000"}}}, "options.backoff.delay"),
        ({"options": {"backoff": {"type": "fixed", "delay": False}}}, "options.backoff.delay"),
    ],
)
def test_delay_attempts_and_backoff_take_json_numbers_only(
    api: httpx.Client, r: redis.Redis, redis_prefix: str, body: dict[str, Any], field: str
):
    assert fields(api.post("/api/schedule-sms", json=SMS | body)) == {field}
    nothing_written(r, redis_prefix)


@pytest.mark.parametrize(
    ("job_type", "options", "field"),
    [
        ("summarize", {"maxSentences": "3"}, "options.maxSentences"),
        ("summarize", {"maxSentences": 3.0}, "options.maxSentences"),
        ("summarize", {"maxSentences": True}, "options.maxSentences"),
    ],
)
def test_ai_job_counts_take_json_integers_only(
    api: httpx.Client, job_type: str, options: dict[str, Any], field: str
):
    body = {"text": "One. Two. Three.", "options": options}
    assert fields(api.post(f"/v1/jobs/{job_type}", json=body)) == {field}


def test_integers_and_numbers_as_json_still_pass(api: httpx.Client):
    body = SMS | {"delay": 1500, "options": {"priority": 1, "attempts": 3, "backoff": 2000}}
    assert api.post("/api/schedule-sms", json=body).status_code == 202
    assert api.post("/api/schedule-sms", json=SMS | {"delay": 2.5}).status_code == 202
    ai_job = {"text": "One. Two.", "options": {"maxSentences": 2, "priority": 9}}
    assert api.post("/v1/jobs/summarize", json=ai_job).status_code == 202


# --- What already holds, against a production `qs gateway` ------------------------------------

ROUTES = [
    ("POST", "/api/schedule-sms"),
    ("POST", "/api/schedule-email"),
    ("POST", "/api/schedule-sms/bulk"),
    ("POST", "/api/ai-response"),
    ("POST", "/v1/jobs/summarize"),
    ("GET", "/v1/jobs"),
    ("GET", "/v1/usage"),
    ("GET", "/api/job-status/x"),
    ("POST", "/2015-03-31/functions/health/invocations"),
]


def test_every_api_route_needs_a_valid_key(
    prod_gateway: Gateway, r: redis.Redis, redis_prefix: str
):
    for method, path in ROUTES:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic x"}):
            answer = httpx.request(method, prod_gateway.url + path, json=SMS, headers=headers)
            problem(answer, 401)
            assert answer.headers["www-authenticate"].startswith("Bearer"), path
    nothing_written(r, redis_prefix)


def test_a_body_over_the_limit_is_413_declared_or_streamed(
    prod_gateway: Gateway, r: redis.Redis, redis_prefix: str
):
    url, auth = prod_gateway.url + "/api/schedule-sms", prod_gateway.auth("orga")
    big = b'{"message": "' + b"x" * settings.max_body_bytes + b'"}'
    problem(httpx.post(url, content=big, headers=auth), 413)

    def chunks() -> Iterator[bytes]:
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    problem(httpx.post(url, content=chunks(), headers=auth), 413)
    nothing_written(r, redis_prefix)


def test_an_invalid_body_is_422_with_nothing_written(
    prod_gateway: Gateway, r: redis.Redis, redis_prefix: str
):
    auth = prod_gateway.auth("orga")
    bodies = [
        SMS | {"phoneNumber": "not a phone"},
        SMS | {"options": {"priority": "1"}},
        {"messages": [SMS, SMS | {"message": ""}]},
    ]
    paths = ["/api/schedule-sms", "/api/schedule-sms", "/api/schedule-sms/bulk"]
    for path, body in zip(paths, bodies, strict=True):
        problem(httpx.post(prod_gateway.url + path, json=body, headers=auth), 422)
    nothing_written(r, redis_prefix)
    accepted = httpx.post(prod_gateway.url + "/api/schedule-sms", json=SMS, headers=auth)
    assert accepted.status_code == 202, accepted.text
    assert job_keys(r, redis_prefix), "the check itself sees what a create writes"


def _request(prod_gateway: Gateway, head: str, body: bytes) -> bytes:
    key = prod_gateway.keys["orga"]
    return (
        f"POST /api/schedule-sms HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\n{head}\r\n"
    ).encode() + body


def test_smuggling_framings_are_refused_and_nothing_behind_them_runs(
    prod_gateway: Gateway, r: redis.Redis, redis_prefix: str
):
    sms = json.dumps(SMS).encode()
    inner = _request(prod_gateway, f"Content-Length: {len(sms)}\r\n", sms)
    framings = {
        "CL.TE": (f"Content-Length: {len(inner) + 5}\r\nTransfer-Encoding: chunked\r\n", None),
        "TE.CL": ("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", None),
        "two lengths": ("Content-Length: 0\r\nContent-Length: 5\r\n", b"0\r\n\r\n"),
        "obfuscated TE": ("Transfer-Encoding: xchunked\r\n", None),
        "TE list": ("Transfer-Encoding: chunked, identity\r\n", None),
        "space before colon": ("Content-Length : 0\r\n", b""),
    }
    for name, (head, prefix) in framings.items():
        body = (prefix if prefix is not None else b"0\r\n\r\n") + inner
        answer = prod_gateway.raw(_request(prod_gateway, head, body))
        statuses = [line for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
        assert statuses, f"{name}: no answer"
        assert all(not s.startswith(b"HTTP/1.1 2") for s in statuses), f"{name}: {statuses}"
        assert len(statuses) == 1, f"{name}: a request behind the first was served: {statuses}"
    nothing_written(r, redis_prefix)
