"""The local API Gateway, exercised over real HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from local.gateway import build_app
from local.manifest import Manifest
from shared.jobs.liveness import beat
from shared.settings import settings
from tests.servers import serve


@pytest.fixture
def gateway(fixture_manifest: Manifest, api_key: str) -> Iterator[httpx.Client]:
    app = build_app(fixture_manifest, threads=2)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    doc = response.json()
    assert doc["status"] == status
    return doc  # type: ignore[no-any-return]


def test_request_becomes_a_faithful_v2_event(gateway: httpx.Client):
    response = gateway.get(
        "/items/42?tag=a&tag=b&q=hello%20world",
        headers=[("X-Trace", "one"), ("X-Trace", "two"), ("Cookie", "a=1; b=2")],
    )
    assert response.status_code == 200
    event = response.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{itemId}"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "tag=a&tag=b&q=hello%20world"
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "hello world"}
    assert event["pathParameters"] == {"itemId": "42"}
    assert event["headers"]["x-trace"] == "one,two"
    assert event["cookies"] == ["a=1", "b=2"]
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"], http["sourceIp"]) == ("GET", "/items/42", "127.0.0.1")
    assert event["requestContext"]["requestId"]
    assert abs(event["requestContext"]["timeEpoch"] - time.time() * 1000) < 10_000
    assert event["isBase64Encoded"] is False


def test_handler_response_fields_become_the_http_response(gateway: httpx.Client):
    response = gateway.post("/items/7", json={"a": 1})
    assert response.headers["x-imports"] == "1"
    assert response.cookies.get("seen") == "1"
    body = response.json()
    assert body["event"]["body"] == '{"a":1}'
    assert body["function"] == "echo"
    assert 0 < body["remainingMs"] <= 7000  # the function's own timeout


def test_handlers_are_imported_once_and_stay_warm(gateway: httpx.Client):
    first = gateway.get("/items/1").json()["calls"]
    second = gateway.get("/items/1")
    assert second.headers["x-imports"] == "1"
    assert second.json()["calls"] == first + 1


def test_literal_route_wins_over_a_parameter_and_greedy_paths_match(gateway: httpx.Client):
    assert gateway.get("/items/special").json() == {"plain": True, "method": "GET"}
    assert gateway.delete("/any/deep/path").json() == {"plain": True, "method": "DELETE"}


def test_binary_bodies_travel_base64_both_ways(gateway: httpx.Client):
    payload = bytes(range(256))
    response = gateway.put(
        "/blob", content=payload, headers={"content-type": "application/octet-stream"}
    )
    assert response.status_code == 200
    assert response.content == payload[::-1]


def test_unknown_route_is_404_problem(gateway: httpx.Client):
    assert "No route" in assert_problem(gateway.get("/nope"), 404)["detail"]


def test_wrong_method_is_405_problem_with_allow(gateway: httpx.Client):
    response = gateway.delete("/items/1")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


def test_body_over_the_limit_is_413_whether_declared_or_streamed(
    gateway: httpx.Client, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "max_body_bytes", 1000)
    assert_problem(gateway.post("/items/1", content=b"x" * 1001), 413)

    def chunks() -> Iterator[bytes]:  # no content-length: the limit applies while reading
        for _ in range(20):
            yield b"y" * 100

    assert_problem(gateway.post("/items/1", content=chunks()), 413)
    assert gateway.post("/items/1", content=b"z" * 1000).status_code == 200


def test_a_raising_handler_is_a_500_problem(gateway: httpx.Client):
    doc = assert_problem(gateway.get("/boom"), 500)
    assert "kaboom" not in doc["detail"]


def test_a_header_no_server_may_send_is_a_502_problem_not_a_dropped_connection(
    gateway: httpx.Client,
):
    # uvicorn refuses a control character in a header value by closing the connection
    # without an answer; the gateway checks first and answers as API Gateway would
    doc = assert_problem(gateway.get("/bad-header"), 502)
    assert "invalid header" in doc["detail"]
    assert gateway.get("/items/special").status_code == 200  # the gateway goes on


def test_a_handler_past_its_timeout_is_a_504_problem(gateway: httpx.Client):
    assert "1 s" in assert_problem(gateway.get("/slow"), 504)["detail"]


def test_invoke_api_runs_a_function_with_the_given_event(gateway: httpx.Client, api_key: str):
    auth = {"authorization": f"Bearer {api_key}"}
    event = {"requestContext": {"http": {"method": "PATCH"}}}
    response = gateway.post("/2015-03-31/functions/plain/invocations", json=event, headers=auth)
    assert response.json() == {"plain": True, "method": "PATCH"}
    full_name = gateway.post(
        "/2015-03-31/functions/fixture-test-plain/invocations", json=event, headers=auth
    )
    assert full_name.status_code == 200


def test_invoke_api_reports_handler_errors_like_lambda(gateway: httpx.Client, api_key: str):
    auth = {"authorization": f"Bearer {api_key}"}
    response = gateway.post("/2015-03-31/functions/boom/invocations", json={}, headers=auth)
    assert response.status_code == 200
    assert response.headers["x-amz-function-error"] == "Unhandled"
    assert response.json()["errorMessage"] == "kaboom"


def test_invoke_api_needs_a_key_and_a_known_function(gateway: httpx.Client, api_key: str):
    assert_problem(gateway.post("/2015-03-31/functions/plain/invocations", json={}), 401)
    auth = {"authorization": f"Bearer {api_key}"}
    assert_problem(gateway.post("/2015-03-31/functions/nope/invocations", headers=auth), 404)


def test_project_health_route_answers_through_the_gateway(redis_prefix: str, api_key: str):
    with serve(build_app()) as url:
        nothing_runs = httpx.get(f"{url}/api/health")
        assert nothing_runs.status_code == 200, "a gateway that can store jobs stays in rotation"
        assert nothing_runs.json()["status"] == "degraded"
        beat("worker", "w1")
        beat("scheduler", "s1")
        response = httpx.get(f"{url}/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_handlers_run_on_the_event_loop_by_default(
    fixture_manifest: Manifest, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(settings, "gateway_threads", 0)
    with serve(build_app(fixture_manifest)) as url:
        response = httpx.get(f"{url}/items/5")
        literal = httpx.get(f"{url}/boom")
    assert response.status_code == 200
    assert response.json()["event"]["pathParameters"] == {"itemId": "5"}
    assert_problem(literal, 500)


def test_a_literal_route_answers_only_its_own_method(gateway: httpx.Client):
    assert gateway.get("/boom").status_code == 500  # the literal table's route ...
    assert "not allowed" in assert_problem(gateway.delete("/boom"), 405)["detail"]
    assert_problem(gateway.get("/boomer"), 404)  # ... and nothing near it


def test_an_event_invocation_runs_off_the_loop_even_with_zero_threads(
    fixture_manifest: Manifest, api_key: str
):
    invoke = {"authorization": f"Bearer {api_key}", "x-amz-invocation-type": "Event"}
    with serve(build_app(fixture_manifest, threads=0)) as url:
        started = time.monotonic()
        queued = httpx.post(f"{url}/2015-03-31/functions/slow/invocations", headers=invoke)
        answered = httpx.get(f"{url}/items/1")
        elapsed_s = time.monotonic() - started
    assert queued.status_code == 202 and answered.status_code == 200
    assert elapsed_s < 1.5, "the 3 s handler held up neither answer"
