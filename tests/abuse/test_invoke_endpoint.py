"""Lambda's Invoke API on the gateway: closed to API keys in production, and an event its target
could not receive is a 400 problem, never a 500 or a stack trace naming server paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.gateway import build_app
from local.manifest import Manifest, load
from shared.settings import settings
from tests.abuse.conftest import Gateway
from tests.local.conftest import FIXTURE_MANIFEST
from tests.servers import serve

INVOKE = "/2015-03-31/functions/{}/invocations"

#: Payloads no function can be invoked with, and what the 400 must say.
BAD_EVENTS = {
    "10,000 nested [": (b"[" * 10_000, "nests deeper"),
    "nested and closed": (b"[" * 5000 + b"]" * 5000, "nests deeper"),
    "40 nested objects": (b'{"a":' * 40 + b"1" + b"}" * 40, "nests deeper"),
    "array": (b"[1,2,3]", "JSON object"),
    "null": (b"null", "JSON object"),
    "string": (b'"x"', "JSON object"),
    "number": (b"5", "JSON object"),
    "not JSON": (b"{nope", "not valid JSON"),
}
#: Events of the right shape whose fields have the wrong types for an HTTP function.
BAD_HTTP_EVENTS = [
    {"headers": "x"},
    {"headers": {"a": 1}},
    {"queryStringParameters": ["a"]},
    {"pathParameters": 5},
    {"body": {"a": 1}},
    {"isBase64Encoded": "yes"},
    {"requestContext": "x"},
    {"requestContext": {"http": []}},
    {"requestContext": {"http": {"method": 1}}},
    {"cookies": "a=1"},
    {"rawPath": None, "rawQueryString": 3},
]


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc: dict[str, Any] = response.json()
    assert doc["status"] == status
    return doc


def no_server_paths(response: httpx.Response) -> None:
    text = response.text
    assert "stackTrace" not in text and "Traceback" not in text
    assert "/work/" not in text and ".py" not in text and "site-packages" not in text


# --- Who may invoke ---------------------------------------------------------------------------


def test_in_production_an_api_key_cannot_invoke_any_function_cron_included(
    prod_gateway: Gateway,
):
    for name in ("health-check", "health", "schedule-sms"):
        url = prod_gateway.url + INVOKE.format(name)
        for org in ("orga", "orgb"):
            answer = httpx.post(url, json={}, headers=prod_gateway.auth(org))
            assert "SERVICE_TOKEN" in problem(answer, 403)["detail"]
        problem(httpx.post(url, json={}), 401)


def test_in_production_the_service_token_may_invoke(prod_gateway: Gateway):
    admin = {"authorization": f"Bearer {prod_gateway.service_token}"}
    url = prod_gateway.url + INVOKE.format("health-check")
    answer = httpx.post(url, json={"time": "2026-01-01T00:00:00Z"}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["scheduledAt"] == "2026-01-01T00:00:00Z"


def test_in_production_without_a_service_token_the_endpoint_does_not_exist(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "api_keys", "orga:key-a")
    monkeypatch.setattr(settings, "service_token", "")
    monkeypatch.setattr(settings, "app_env", "production")
    with serve(build_app()) as url:
        answer = httpx.post(
            url + INVOKE.format("health-check"), json={}, headers={"authorization": "Bearer key-a"}
        )
    assert "No route" in problem(answer, 404)["detail"]


# --- What may be invoked with -----------------------------------------------------------------


@pytest.fixture
def dev_gateway(fixture_manifest: Manifest, api_key: str) -> Iterator[httpx.Client]:
    """The fixture functions under APP_ENV=dev (``qs dev``), with a valid key."""
    app = build_app(fixture_manifest, threads=2)
    with (
        serve(app) as url,
        httpx.Client(base_url=url, headers={"authorization": f"Bearer {api_key}"}) as client,
    ):
        yield client


@pytest.fixture
def fixture_manifest() -> Manifest:
    return load(FIXTURE_MANIFEST)


@pytest.mark.parametrize("payload", [v[0] for v in BAD_EVENTS.values()], ids=BAD_EVENTS.keys())
def test_an_event_that_is_no_object_or_too_deep_is_a_400_problem(
    dev_gateway: httpx.Client, payload: bytes
):
    expected = next(said for raw, said in BAD_EVENTS.values() if raw == payload)
    for name in ("echo", "tick"):
        answer = dev_gateway.post(INVOKE.format(name), content=payload)
        assert expected in problem(answer, 400)["detail"]
        no_server_paths(answer)


@pytest.mark.parametrize("event", BAD_HTTP_EVENTS, ids=repr)
def test_an_http_event_with_wrongly_typed_fields_is_a_400_problem(
    dev_gateway: httpx.Client, event: dict[str, Any]
):
    answer = dev_gateway.post(INVOKE.format("plain"), json=event)
    assert "HTTP API v2.0 event" in problem(answer, 400)["detail"]
    no_server_paths(answer)


def test_a_scheduled_event_with_wrongly_typed_fields_is_a_400_problem(dev_gateway: httpx.Client):
    events: list[dict[str, Any]] = [
        {"resources": "arn"}, {"detail": []}, {"time": 5}, {"detail-type": 1},
    ]  # fmt: skip
    for event in events:
        answer = dev_gateway.post(INVOKE.format("tick"), json=event)
        assert "EventBridge" in problem(answer, 400)["detail"], event


def test_well_formed_events_still_run(dev_gateway: httpx.Client):
    event = {"requestContext": {"http": {"method": "PATCH"}}, "headers": {"x": "1"}}
    assert dev_gateway.post(INVOKE.format("plain"), json=event).json()["method"] == "PATCH"
    assert dev_gateway.post(INVOKE.format("tick"), json={"report": "daily"}).json() == {"ok": True}
    assert dev_gateway.post(INVOKE.format("tick")).status_code == 200  # no payload: {}


def test_an_unknown_invocation_type_is_400_and_a_dry_run_runs_nothing(dev_gateway: httpx.Client):
    headers = {"x-amz-invocation-type": "Sometimes"}
    problem(dev_gateway.post(INVOKE.format("tick"), json={}, headers=headers), 400)
    dry = dev_gateway.post(
        INVOKE.format("boom"), json={}, headers={"x-amz-invocation-type": "DryRun"}
    )
    assert dry.status_code == 204


def test_a_handler_error_names_no_server_path_in_production(
    fixture_manifest: Manifest, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "api_keys", "orga:key-a")
    monkeypatch.setattr(settings, "service_token", "svc")
    monkeypatch.setattr(settings, "app_env", "production")
    with serve(build_app(fixture_manifest, threads=2)) as url:
        answer = httpx.post(
            url + INVOKE.format("boom"), json={}, headers={"authorization": "Bearer svc"}
        )
    assert answer.status_code == 200 and answer.headers["x-amz-function-error"] == "Unhandled"
    assert "kaboom" not in answer.text
    no_server_paths(answer)


def test_a_project_function_given_a_non_object_event_is_400_in_production(
    prod_gateway: Gateway,
):
    admin = {"authorization": f"Bearer {prod_gateway.service_token}"}
    cases = [
        ("schedule-sms", b"[1,2,3]"),
        ("health", b"null"),
        ("schedule-sms", b'{"headers":"x"}'),
        ("health-check", b"[" * 10_000),
    ]
    for name, payload in cases:
        answer = httpx.post(prod_gateway.url + INVOKE.format(name), content=payload, headers=admin)
        problem(answer, 400)
        no_server_paths(answer)
