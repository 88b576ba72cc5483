"""Events built by the emulator, and API Gateway's mapping of handler results."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from starlette.requests import Request

from local import context as context_module
from local.context import LambdaContext
from local.events import http_event, scheduled_event, to_starlette_response

ACCOUNT = "123456789012"


def make_request(
    method: str = "GET",
    path: str = "/api/jobs/abc",
    query: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    raw_path: bytes | None = None,
) -> Request:
    headers = headers if headers is not None else [("host", "localhost:3000")]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("10.1.2.3", 54321),
        "server": ("localhost", 3000),
    }
    return Request(scope)


def build(request: Request | None = None, body: bytes = b"", **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "route_key": "GET /api/jobs/{jobId}",
        "path_params": {},
        "body": body,
        "account_id": ACCOUNT,
    }
    options.update(kwargs)
    return http_event((request or make_request()).scope, **options)


# --- http_event ------------------------------------------------------------------------------


def test_event_has_the_v2_shape_and_request_context() -> None:
    event = build(
        make_request(headers=[("Host", "localhost:3000"), ("User-Agent", "curl/8")]),
        stage="dev",
        api_id="abc123",
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /api/jobs/{jobId}"
    assert event["rawPath"] == "/api/jobs/abc"
    ctx = event["requestContext"]
    assert ctx["accountId"] == ACCOUNT
    assert ctx["apiId"] == "abc123"
    assert ctx["domainName"] == "localhost:3000"
    assert ctx["domainPrefix"] == "localhost"
    assert ctx["http"] == {
        "method": "GET",
        "path": "/api/jobs/abc",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.1.2.3",
        "userAgent": "curl/8",
    }
    assert ctx["routeKey"] == "GET /api/jobs/{jobId}"
    assert ctx["stage"] == "dev"
    assert event["isBase64Encoded"] is False
    for absent in ("cookies", "queryStringParameters", "pathParameters", "body"):
        assert absent not in event


def test_header_names_are_lower_cased_and_repeats_comma_joined() -> None:
    request = make_request(
        headers=[("Host", "h"), ("X-Tag", "a"), ("x-tag", "b"), ("Accept", "text/plain")]
    )
    headers = build(request)["headers"]
    assert headers["host"] == "h"
    assert headers["x-tag"] == "a,b"
    assert headers["accept"] == "text/plain"
    assert all(name == name.lower() for name in headers)


def test_forwarding_headers_are_added_like_api_gateway() -> None:
    headers = build(make_request(headers=[("host", "h"), ("x-forwarded-for", "1.1.1.1")]))[
        "headers"
    ]
    assert headers["x-forwarded-for"] == "1.1.1.1, 10.1.2.3"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-port"] == "3000"


def test_cookies_are_split_into_a_list_and_removed_from_headers() -> None:
    request = make_request(headers=[("host", "h"), ("Cookie", "a=1; b=2"), ("cookie", "c=3")])
    event = build(request)
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]


def test_raw_query_is_kept_and_repeated_params_comma_joined() -> None:
    raw = b"tag=a&tag=b%2Cc&q=hello%20world&empty="
    event = build(make_request(query=raw))
    assert event["rawQueryString"] == raw.decode()
    assert event["queryStringParameters"] == {"tag": "a,b,c", "q": "hello world", "empty": ""}


def test_raw_path_is_as_received_and_http_path_decoded() -> None:
    event = build(make_request(path="/api/a b", raw_path=b"/api/a%20b"))
    assert event["rawPath"] == "/api/a%20b"
    assert event["requestContext"]["http"]["path"] == "/api/a b"


def test_path_parameters_are_present_when_the_route_has_some() -> None:
    event = build(path_params={"jobId": "abc"})
    assert event["pathParameters"] == {"jobId": "abc"}


def test_json_body_is_passed_as_text() -> None:
    body = '{"to": "+33612345678", "text": "héllo"}'.encode()
    request = make_request(
        "POST", headers=[("host", "h"), ("content-type", "application/json; charset=utf-8")]
    )
    event = build(request, body=body)
    assert event["isBase64Encoded"] is False
    assert event["body"] == body.decode()


@pytest.mark.parametrize("content_type", ["text/csv", "application/problem+json", "text/html"])
def test_textual_content_types_are_passed_as_text(content_type: str) -> None:
    request = make_request("POST", headers=[("host", "h"), ("content-type", content_type)])
    event = build(request, body=b"plain")
    assert (event["body"], event["isBase64Encoded"]) == ("plain", False)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/octet-stream", b"plain ascii"),
        ("image/png", b"\x89PNG\r\n\x1a\n"),
        ("application/json", b"\xff\xfe not utf-8"),
        (None, b"no content type"),
    ],
)
def test_binary_body_is_base64_encoded_and_flagged(content_type: str | None, body: bytes) -> None:
    headers = [("host", "h")] + ([("content-type", content_type)] if content_type else [])
    event = build(make_request("POST", headers=headers), body=body)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_request_id_is_unique_per_request() -> None:
    ids = {build()["requestContext"]["requestId"] for _ in range(50)}
    assert len(ids) == 50


def test_time_epoch_is_close_to_now_and_time_matches_it() -> None:
    before = time.time() * 1000
    ctx = build()["requestContext"]
    after = time.time() * 1000
    assert before - 1 <= ctx["timeEpoch"] <= after + 1
    parsed = datetime.strptime(ctx["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert abs(parsed.timestamp() * 1000 - ctx["timeEpoch"]) < 1000


def test_account_id_that_is_not_twelve_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="12 digits"):
        build(account_id="local")


# --- to_starlette_response -------------------------------------------------------------------


def header_list(response: Any, name: str) -> list[str]:
    return [v.decode() for k, v in response.raw_headers if k == name.encode()]


def test_proxy_response_maps_status_headers_and_body() -> None:
    response = to_starlette_response(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Count": 3, "X-Ok": True},
            "body": '{"id":"j1"}',
            "isBase64Encoded": False,
        }
    )
    assert response.status_code == 201
    assert response.body == b'{"id":"j1"}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-count"] == "3"
    assert response.headers["x-ok"] == "true"
    assert response.headers["content-length"] == "11"


def test_proxy_response_content_length_is_computed_and_none_values_are_dropped() -> None:
    response = to_starlette_response(
        {"statusCode": 200, "headers": {"Content-Length": "999", "X-None": None}, "body": "hi"}
    )
    assert header_list(response, "content-length") == ["2"]
    assert "x-none" not in response.headers


def test_proxy_response_with_empty_cookies_and_multi_value_headers_is_plain() -> None:
    response = to_starlette_response(
        {"statusCode": 200, "headers": {"X-A": "a"}, "multiValueHeaders": {}, "cookies": []}
    )
    assert header_list(response, "x-a") == ["a"]
    assert "set-cookie" not in response.headers


def test_proxy_response_without_content_type_gets_none() -> None:
    response = to_starlette_response({"statusCode": 200, "body": "hi"})
    assert "content-type" not in response.headers
    assert response.body == b"hi"


def test_proxy_response_without_body_is_empty() -> None:
    response = to_starlette_response({"statusCode": 204})
    assert response.status_code == 204
    assert response.body == b""


def test_multi_value_headers_each_become_a_header_and_win_over_headers() -> None:
    response = to_starlette_response(
        {
            "statusCode": 200,
            "headers": {"X-A": "single", "X-B": "b"},
            "multiValueHeaders": {"x-a": ["1", "2"]},
            "body": "",
        }
    )
    assert header_list(response, "x-a") == ["1", "2"]
    assert header_list(response, "x-b") == ["b"]


def test_cookies_each_become_a_set_cookie_header() -> None:
    response = to_starlette_response(
        {"statusCode": 200, "cookies": ["a=1; Path=/", "b=2; HttpOnly"], "body": ""}
    )
    assert header_list(response, "set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_base64_body_is_decoded() -> None:
    payload = b"\x00\x01binary\xff"
    response = to_starlette_response(
        {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(payload).decode(),
            "isBase64Encoded": True,
        }
    )
    assert response.body == payload
    assert response.headers["content-length"] == str(len(payload))


@pytest.mark.parametrize(
    "result",
    [{"message": "hi"}, [1, "two", None], "Hello from Lambda!", 42, 1.5, None, True],
)
def test_result_without_status_code_is_a_200_json_body(result: Any) -> None:
    response = to_starlette_response(result)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.body) == result


@pytest.mark.parametrize(
    ("result", "detail_fragment"),
    [
        ({"statusCode": "200", "body": ""}, "statusCode"),
        ({"statusCode": 200.0, "body": ""}, "statusCode"),
        ({"statusCode": 99, "body": ""}, "statusCode"),
        ({"statusCode": 200, "body": {"not": "a string"}}, "body must be a string"),
        ({"statusCode": 200, "body": "%%%", "isBase64Encoded": True}, "not base64"),
        ({"statusCode": 200, "body": "", "isBase64Encoded": "yes"}, "isBase64Encoded"),
        ({"statusCode": 200, "headers": ["x"]}, "headers must be an object"),
        ({"statusCode": 200, "headers": {"x": {"nested": 1}}}, "header value"),
        ({"statusCode": 200, "headers": {"x": "a\r\nInjected: 1"}}, "invalid header"),
        ({"statusCode": 200, "headers": {"x y": "a"}}, "invalid header"),
        ({"statusCode": 200, "headers": {"x:": "a"}}, "invalid header"),
        ({"statusCode": 200, "headers": {"": "a"}}, "invalid header"),
        ({"statusCode": 200, "headers": {"x": "a\x00b"}}, "invalid header"),
        ({"statusCode": 200, "headers": {"x": "a\x7f"}}, "invalid header"),
        ({"statusCode": 200, "headers": {"x(y)": "a"}}, "invalid header"),
        ({"statusCode": 200, "headers": {"x/y": "a"}}, "invalid header"),
        ({"statusCode": 200, "headers": {"\u00e9": "a"}}, "invalid header"),
        ({"statusCode": 200, "headers": {"x": "\u20ac"}}, "Latin-1"),
        ({"statusCode": 200, "multiValueHeaders": {"x": "a"}}, "multiValueHeaders"),
        ({"statusCode": 200, "cookies": "a=1"}, "cookies"),
        ({"when": datetime(2026, 1, 1)}, "JSON-serializable"),
    ],
)
def test_malformed_result_is_a_502_problem(result: Any, detail_fragment: str) -> None:
    response = to_starlette_response(result)
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    doc = json.loads(response.body)
    assert doc["type"] == "about:blank"
    assert doc["title"] == "Bad Gateway"
    assert doc["status"] == 502
    assert detail_fragment in doc["detail"]


# --- scheduled_event -------------------------------------------------------------------------


def test_scheduled_event_has_the_eventbridge_fields() -> None:
    paris = timezone(timedelta(hours=1))
    event = scheduled_event(
        rule_name="purge-expired",
        time=datetime(2026, 11, 27, 9, 30, 0, 123456, tzinfo=paris),
        region="eu-west-3",
        account_id=ACCOUNT,
    )
    assert event["version"] == "0"
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["account"] == ACCOUNT
    assert event["time"] == "2026-11-27T08:30:00Z"
    assert event["region"] == "eu-west-3"
    assert event["resources"] == [f"arn:aws:events:eu-west-3:{ACCOUNT}:rule/purge-expired"]
    assert event["detail"] == {}
    assert len(event["id"]) == 36


def test_scheduled_event_ids_are_unique_and_naive_times_are_utc() -> None:
    when = datetime(2026, 11, 27, 8, 30)
    first = scheduled_event(rule_name="r", time=when, region="eu-west-3", account_id=ACCOUNT)
    second = scheduled_event(rule_name="r", time=when, region="eu-west-3", account_id=ACCOUNT)
    assert first["id"] != second["id"]
    assert first["time"] == "2026-11-27T08:30:00Z"


@pytest.mark.parametrize(
    ("given", "delivered"),
    [
        ({"batch": 10}, {"batch": 10}),
        ('{"batch": 10}', {"batch": 10}),
        ([1, 2], [1, 2]),
    ],
)
def test_constant_input_is_delivered_instead_of_the_event(given: Any, delivered: Any) -> None:
    now = datetime.now(UTC)
    event = scheduled_event(rule_name="r", time=now, region="r", account_id=ACCOUNT, input=given)
    assert event == delivered


def test_constant_input_is_a_fresh_copy_each_time() -> None:
    given = {"nested": {"n": 1}}
    now = datetime.now(UTC)
    event = scheduled_event(rule_name="r", time=now, region="r", account_id=ACCOUNT, input=given)
    event["nested"]["n"] = 2
    assert given == {"nested": {"n": 1}}


def test_constant_input_that_is_not_json_is_refused() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="not JSON"):
        scheduled_event(rule_name="r", time=now, region="r", account_id=ACCOUNT, input="{oops")


# --- LambdaContext ---------------------------------------------------------------------------


def test_context_carries_the_function_identity() -> None:
    ctx = LambdaContext("api-create-job", timeout_s=6, region="eu-west-3", account_id=ACCOUNT)
    assert ctx.function_name == "api-create-job"
    assert ctx.function_version == "$LATEST"
    assert ctx.invoked_function_arn == (
        f"arn:aws:lambda:eu-west-3:{ACCOUNT}:function:api-create-job"
    )
    assert ctx.memory_limit_in_mb == 512
    assert ctx.log_group_name == "/aws/lambda/api-create-job"
    assert "[$LATEST]" in ctx.log_stream_name
    other = LambdaContext("f", timeout_s=1, region="r", account_id=ACCOUNT, memory_mb=1024)
    assert other.memory_limit_in_mb == 1024
    assert other.aws_request_id != ctx.aws_request_id


def test_context_request_id_is_a_uuid4_that_stays_the_same_once_read() -> None:
    ctx = LambdaContext("f", timeout_s=1, region="r", account_id=ACCOUNT)
    first = ctx.aws_request_id
    assert uuid.UUID(first).version == 4
    assert ctx.aws_request_id == first
    assert first in repr(ctx)


def test_remaining_time_counts_down_from_the_timeout_and_stops_at_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(context_module, "monotonic", lambda: now[0])
    ctx = LambdaContext("f", timeout_s=6, region="r", account_id=ACCOUNT)
    assert ctx.get_remaining_time_in_millis() == 6000
    now[0] += 2.5
    assert ctx.get_remaining_time_in_millis() == 3500
    now[0] += 10
    assert ctx.get_remaining_time_in_millis() == 0
