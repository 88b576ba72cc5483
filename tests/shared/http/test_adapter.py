"""The HTTP adapter: v2.0 event in, Lambda response out, errors as RFC 9457 problems."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pydantic import BaseModel, Field
from redis.backoff import NoBackoff
from redis.retry import Retry

from local.embedded_redis import EmbeddedRedis, free_port
from shared.http import Problem, Request, Response, http_handler
from shared.settings import Settings, settings
from tests.conftest import load_event


class Greeting(BaseModel):
    name: str = Field(min_length=1)
    count: int = Field(ge=0)


@http_handler(body=Greeting)
def echo(request: Request[Greeting]) -> Response:
    return Response({"hello": request.body.name, "org": request.principal.org}, status=201)


def post(api_key: str | None, body: str, **extra: Any) -> dict[str, Any]:
    event = load_event("http_post_json")
    event["body"] = body
    if api_key is None:
        del event["headers"]["authorization"]
    else:
        event["headers"]["authorization"] = f"Bearer {api_key}"
    event.update(extra)
    return echo(event, None)


def problem_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response["headers"]["content-type"] == "application/problem+json"
    doc = json.loads(response["body"])
    assert doc["status"] == response["statusCode"]
    assert doc["type"] == "about:blank" and doc["title"]
    return doc  # type: ignore[no-any-return]


def test_valid_request_reaches_the_function_with_a_typed_body_and_the_callers_org(api_key: str):
    response = post(api_key, '{"name": "Ada", "count": 3}')
    assert response["statusCode"] == 201
    assert json.loads(response["body"]) == {"hello": "Ada", "org": "acme"}


def test_missing_key_is_401_problem_with_a_bearer_challenge(api_key: str):
    response = post(None, '{"name": "Ada", "count": 3}')
    assert response["statusCode"] == 401
    assert response["headers"]["www-authenticate"].startswith("Bearer")
    assert "Bearer" in problem_of(response)["detail"]


def test_wrong_key_is_401(api_key: str):
    response = post(api_key + "x", '{"name": "Ada", "count": 3}')
    assert response["statusCode"] == 401
    assert problem_of(response)["detail"] == "The API key is not valid."


def test_service_token_is_accepted_as_a_key(api_key: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings, "service_token", "svc-token-123")
    response = post("svc-token-123", '{"name": "Ada", "count": 3}')
    assert response["statusCode"] == 201
    assert json.loads(response["body"])["org"] == "service"


def test_malformed_json_is_400(api_key: str):
    response = post(api_key, '{"name": "Ada",')
    assert response["statusCode"] == 400
    assert "not valid JSON" in problem_of(response)["detail"]


def test_body_over_the_limit_is_413(api_key: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings, "max_body_bytes", 64)
    response = post(api_key, json.dumps({"name": "A" * 100, "count": 1}))
    assert response["statusCode"] == 413
    assert "64 bytes" in problem_of(response)["detail"]


def test_invalid_fields_are_422_with_one_error_per_field(api_key: str):
    response = post(api_key, '{"name": "", "count": -1}')
    assert response["statusCode"] == 422
    doc = problem_of(response)
    assert sorted(e["field"] for e in doc["errors"]) == ["count", "name"]
    assert all(e["message"] and e["type"] for e in doc["errors"])


def test_base64_body_is_decoded(api_key: str):
    raw = base64.b64encode(b'{"name": "Ada", "count": 0}').decode()
    response = post(api_key, raw, isBase64Encoded=True)
    assert response["statusCode"] == 201


def test_problem_raised_by_the_function_keeps_its_status_and_headers():
    @http_handler(auth="none")
    def gone(request: Request[Any]) -> None:
        raise Problem(404, "No job abc.", headers={"x-hint": "check the id"})

    response = gone(load_event("http_get_health"), None)
    assert response["statusCode"] == 404
    assert response["headers"]["x-hint"] == "check the id"
    assert problem_of(response)["instance"] == "/api/health"


@contextlib.contextmanager
def redis_that(answer: str) -> Iterator[redis.Redis]:
    """A client of a loopback TCP server that takes each command and then either never answers
    (``answer="never"``) or closes the connection (``"close"``); no retries, 0.3 s timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.recv(65536)  # the command (or redis-py's handshake) arrived
            if answer == "close":
                conn.close()
            else:
                stop.wait()
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = redis.Redis(
        port=listener.getsockname()[1], socket_timeout=0.3, retry=Retry(NoBackoff(), 0)
    )
    try:
        yield client
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def store_call(client: redis.Redis) -> dict[str, Any]:
    @http_handler(auth="none")
    def writes(request: Request[Any]) -> None:
        client.set("qs:job:1", "x")

    return writes(load_event("http_get_health"), None)


def test_refused_connection_is_503_saying_nothing_was_written():
    client = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    response = store_call(client)
    assert response["statusCode"] == 503
    assert response["headers"]["retry-after"] == "5"
    assert "nothing was written" in problem_of(response)["detail"]


@pytest.mark.parametrize("answer", ["never", "close"])
def test_a_call_that_may_have_committed_is_503_pointing_to_idempotency_key(answer: str):
    with redis_that(answer) as client:
        response = store_call(client)
    assert response["statusCode"] == 503
    detail = problem_of(response)["detail"]
    assert "nothing was written" not in detail
    assert "may or may not have been stored" in detail and "Idempotency-Key" in detail


def test_a_read_only_replica_is_503_not_500(tmp_path):
    replica = EmbeddedRedis(tmp_path, persist=False).start()
    try:
        client = redis.Redis.from_url(replica.url)
        client.replicaof("127.0.0.1", free_port())  # a primary that is not there: read-only
        response = store_call(client)
        client.close()
    finally:
        replica.stop()
    assert response["statusCode"] == 503
    assert "read-only replica" in problem_of(response)["detail"]


def test_unexpected_error_is_500_without_details_leaking():
    @http_handler(auth="none")
    def broken(request: Request[Any]) -> None:
        raise RuntimeError("secret internals")

    response = broken(load_event("http_get_health"), None)
    assert response["statusCode"] == 500
    assert "secret" not in response["body"]


def test_plain_return_values_become_200_json():
    @http_handler(auth="none")
    def plain(request: Request[Any]) -> dict[str, int]:
        return {"n": 1}

    response = plain({}, None)  # a bare event, as `qs invoke` may send
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"n": 1}


def test_production_refuses_to_start_without_credentials(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("API_KEYS", raising=False)
    monkeypatch.delenv("SERVICE_TOKEN", raising=False)
    with pytest.raises(ValueError, match="refusing to start"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("API_KEYS", "k1")
    monkeypatch.setenv("DASHBOARD_PASSWORD", "a-strong-dashboard-password")
    assert Settings(_env_file=None).app_env == "production"  # type: ignore[call-arg]


def test_api_keys_parse_org_prefixes_and_seed_aliases(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("API_KEYS", "acme:k1, k2 ,,")
    monkeypatch.setenv("BULL_BOARD_USERNAME", "ops")
    monkeypatch.setenv("BULL_BOARD_PASSWORD", "pw")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [(k.org, k.secret) for k in s.parsed_api_keys()] == [("acme", "k1"), ("default", "k2")]
    assert (s.dashboard_username, s.dashboard_password) == ("ops", "pw")


def test_redis_url_is_built_from_the_seed_variables(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_USER", "app")
    monkeypatch.setenv("REDIS_PASSWORD", "p@ss")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.resolved_redis_url() == "redis://app:p%40ss@cache.internal:6380/0"


def test_a_validation_error_inside_the_function_is_a_500_not_a_422():
    @http_handler(auth="none")
    def buggy(request: Request[Any]) -> Greeting:
        return Greeting(name="", count=-1)  # the function's own bug, not the client's

    assert buggy(load_event("http_get_health"), None)["statusCode"] == 500
