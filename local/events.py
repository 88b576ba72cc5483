"""The events AWS hands a function, built locally, and API Gateway's mapping of the result.

``http_event`` is an API Gateway HTTP API payload v2.0 event, ``to_starlette_response`` maps a
handler's result back the way API Gateway does for payload 2.0, and ``scheduled_event`` is what
EventBridge delivers to a ``schedule`` function. ``invoke_event`` reads the payload of a call to
Lambda's Invoke API and refuses (``BadEvent``) one its target could not have been given.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import random
import re
import time as _time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError
from starlette.responses import Response
from starlette.types import Scope

from shared.http.problems import PROBLEM_CONTENT_TYPE, Problem

#: Media types (besides ``text/*``, ``*+json`` and ``*+xml``) whose bodies API Gateway passes as
#: text; any other body reaches the function base64-encoded.
TEXT_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/graphql",
        "application/yaml",
        "application/x-yaml",
        "application/x-ndjson",
    }
)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ACCOUNT_ID = re.compile(r"\d{12}")
_NO_BODY_STATUSES = frozenset({204, 304})


#: Deepest nesting of objects and arrays an Invoke API payload may have.
MAX_EVENT_DEPTH = 32

#: What a function is invoked with: an HTTP API v2.0 event, an EventBridge event, or anything.
EventKind = Literal["http", "schedule", "any"]


class MalformedResponse(ValueError):
    """A function result API Gateway would reject with 502."""


class BadEvent(ValueError):
    """An Invoke API payload the target function could not receive from AWS (a 400)."""


# --- request -> event ------------------------------------------------------------------------


def http_event(
    scope: Scope,
    *,
    route_key: str,
    path_params: dict[str, str],
    body: bytes,
    stage: str = "$default",
    account_id: str,
    api_id: str = "local",
) -> dict[str, Any]:
    """The HTTP API payload v2.0 event for the ASGI ``scope``; ``body`` comes already read.

    Built in one pass over the headers (about 2 µs for a typical POST: see
    ``bench/profiles/gateway-request.md``); an empty query string is not parsed.
    """
    _check_account(account_id)
    headers, cookies = _headers_and_cookies(scope)
    client = scope.get("client")
    source_ip = client[0] if client else "127.0.0.1"
    _add_forwarding_headers(headers, scope, source_ip)
    raw_path = scope.get("raw_path") or scope["path"].encode()
    raw_query = scope.get("query_string", b"").decode("utf-8", "replace")
    now = _time.time()
    host = headers.get("host", "")

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path.decode("utf-8", "replace"),
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if raw_query:
        query = _joined(parse_qsl(raw_query, keep_blank_values=True))
        if query:
            event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": host,
        "domainPrefix": host.partition(":")[0].partition(".")[0],
        "http": {
            "method": scope["method"].upper(),
            "path": scope["path"],
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": _request_id(),
        "routeKey": route_key,
        "stage": stage,
        "time": _clf_second(int(now)),
        "timeEpoch": int(now * 1000),
    }
    if path_params:
        event["pathParameters"] = dict(path_params)
    text = _text_body(headers.get("content-type", ""), body) if body else None
    if text is not None:
        event["body"] = text
    elif body:
        event["body"] = base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = True
        return event
    event["isBase64Encoded"] = False
    return event


def _headers_and_cookies(scope: Scope) -> tuple[dict[str, str], list[str]]:
    """Headers with lower-case names and repeats comma-joined; ``cookie`` goes to the list."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        elif name in headers:
            headers[name] = f"{headers[name]},{value}"
        else:
            headers[name] = value
    return headers, cookies


def _add_forwarding_headers(headers: dict[str, str], scope: Scope, source_ip: str) -> None:
    """The ``x-forwarded-*`` headers API Gateway adds (a client's ``x-forwarded-for`` is kept)."""
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    scheme = scope.get("scheme", "http")
    server = scope.get("server")
    headers["x-forwarded-proto"] = scheme
    headers["x-forwarded-port"] = str(server[1] if server else 443 if scheme == "https" else 80)


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A dict in first-seen order with the values of repeated keys joined by commas."""
    out: dict[str, str] = {}
    for key, value in pairs:
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def _text_body(content_type: str, body: bytes) -> str | None:
    """``body`` as text when API Gateway would pass it as text, else None (base64)."""
    if not _is_textual(content_type):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


@functools.lru_cache(maxsize=64)
def _is_textual(content_type: str) -> bool:
    """Whether a body of ``content_type`` reaches the function as text (if it is UTF-8)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return (
        media_type.startswith("text/")
        or media_type in TEXT_MEDIA_TYPES
        or media_type.endswith(("+json", "+xml"))
        or "javascript" in media_type
    )


def _request_id() -> str:
    """An id shaped like API Gateway's (16 base64 characters, e.g. ``JKJaXmPLvHcESHA=``)."""
    # an emulated id needs no secrecy: the fast generator, not a system call per request
    return base64.b64encode(random.getrandbits(88).to_bytes(11)).decode("ascii")


def _clf_time(epoch_s: float) -> str:
    """``27/Nov/2026:08:30:00 +0000`` (month names fixed, whatever the locale)."""
    return _clf_second(int(epoch_s))


@functools.lru_cache(maxsize=4)
def _clf_second(epoch_s: int) -> str:
    t = datetime.fromtimestamp(epoch_s, UTC)
    return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"


@functools.lru_cache(maxsize=8)
def _check_account(account_id: str) -> None:
    """``ValueError`` unless ``account_id`` is 12 digits (a valid one is remembered)."""
    if not _ACCOUNT_ID.fullmatch(account_id):
        raise ValueError(f"An AWS account id is 12 digits, not {account_id!r}.")


# --- result -> response ----------------------------------------------------------------------


def api_gateway_response(result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, raw headers, body) API Gateway makes of a function's result (payload 2.0).

    A dict with ``statusCode`` is a proxy response; anything else is a 200 JSON body. A malformed
    proxy response is a 502 problem+json, as API Gateway answers 502 there too. The headers
    include ``content-length``, computed here (the function's own is not trusted).
    """
    try:
        if isinstance(result, dict) and "statusCode" in result:
            status, headers, body = _proxy_response(result)
        else:
            status, headers, body = 200, [("content-type", "application/json")], _json(result)
        raw_headers = _encode_headers(headers)
    except MalformedResponse as exc:
        doc = Problem(502, f"Malformed Lambda proxy response: {exc}").body()
        status, body = 502, json.dumps(doc).encode()
        raw_headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode())]
    if status < 200 or status in _NO_BODY_STATUSES:
        body = b""
    else:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    return status, raw_headers, body


def to_starlette_response(result: Any) -> Response:
    """``api_gateway_response`` as a Starlette ``Response``."""
    status, raw_headers, body = api_gateway_response(result)
    response = Response(body, status_code=status)
    response.raw_headers = raw_headers
    return response


def _proxy_response(result: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode must be an integer from 100 to 599, not {status!r}.")

    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, dict):
        raise MalformedResponse("headers must be an object.")
    if not isinstance(multi, dict) or not all(isinstance(v, list) for v in multi.values()):
        raise MalformedResponse("multiValueHeaders must be an object of lists.")
    if multi:  # as API Gateway: a name in multiValueHeaders takes its values from there only
        multi_names = {str(name).lower() for name in multi}
        single = {k: v for k, v in single.items() if str(k).lower() not in multi_names}
    headers = [
        (name if type(name) is str else str(name), _header_value(value))
        for name, value in single.items()
        if value is not None
    ]
    if multi:
        headers += [(str(name), _header_value(v)) for name, values in multi.items() for v in values]

    cookies = result.get("cookies")
    if cookies:
        if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
            raise MalformedResponse("cookies must be a list of strings.")
        headers += [("set-cookie", cookie) for cookie in cookies]

    body = result.get("body")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, not {type(body).__name__}.")
    is_base64 = result.get("isBase64Encoded", False)
    if not isinstance(is_base64, bool):
        raise MalformedResponse(f"isBase64Encoded must be a boolean, not {is_base64!r}.")
    if not is_base64:
        return status, headers, body.encode("utf-8")
    try:
        return status, headers, base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedResponse("body is flagged isBase64Encoded but is not base64.") from None


def _header_value(value: Any) -> str:
    """A header value as API Gateway renders JSON scalars (``true``, ``3``); no objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise MalformedResponse(f"a header value must be a string or scalar, not {value!r}.")


#: What a header name may not contain (besides being empty): anything but RFC 9110's token
#: characters (uvicorn's stock path would drop the connection without an answer on some).
_BAD_NAME = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
#: What a header value may not contain: control characters other than a tab.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _encode_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Latin-1 (name lower-cased, value as is); ``content-length`` dropped (it is computed)."""
    raw = []
    for name, value in headers:
        lower = name.lower()
        if lower == "content-length":
            continue
        if not name or _BAD_NAME.search(name) or _BAD_VALUE.search(value):
            raise MalformedResponse(f"invalid header {name!r}: {value!r}.")
        try:
            raw.append((lower.encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise MalformedResponse(f"header {name!r} is not Latin-1 text.") from None
    return raw


def _json(result: Any) -> bytes:
    try:
        return json.dumps(result, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise MalformedResponse(f"the result is not JSON-serializable ({exc}).") from None


def sample_http_event(method: str, path: str, *, api_key: str, account_id: str) -> dict[str, Any]:
    """A v2.0 event for ``method path`` as ``qs invoke`` sends it with no ``--data``: from
    127.0.0.1, with ``Authorization: Bearer <api_key>`` when ``api_key`` is not empty (under
    ``qs dev``, its generated key), so the handler sees an authenticated call."""
    headers = {"host": "localhost", "user-agent": "qs-invoke"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    now_ms = int(_time.time() * 1000)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "qs-invoke",
            },
            "requestId": "qs-invoke",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": _clf_time(now_ms / 1000),
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": False,
    }


# --- EventBridge -----------------------------------------------------------------------------


def scheduled_event(
    *, rule_name: str, time: datetime, region: str, account_id: str, input: Any = None
) -> Any:
    """The EventBridge Scheduled Event for one firing of ``rule_name`` at ``time``.

    With a constant ``input`` (a value, or JSON text as in ``serverless.yml``), EventBridge delivers
    that input instead of the event, so it is returned (as a fresh copy) in its place.
    """
    _check_account(account_id)
    if input is not None:
        try:
            return json.loads(input) if isinstance(input, str) else json.loads(json.dumps(input))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The input of schedule {rule_name!r} is not JSON: {exc}.") from None
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account_id}:rule/{rule_name}"],
        "detail": {},
    }


# --- Invoke API payloads ---------------------------------------------------------------------

_Strings = dict[StrictStr, StrictStr] | None


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


class _HttpContext(_Loose):
    method: StrictStr | None = None
    path: StrictStr | None = None
    protocol: StrictStr | None = None
    sourceIp: StrictStr | None = None
    userAgent: StrictStr | None = None


class _RequestContext(_Loose):
    http: _HttpContext | None = None
    requestId: StrictStr | None = None
    routeKey: StrictStr | None = None
    stage: StrictStr | None = None


class _HttpEvent(_Loose):
    """The fields of a v2.0 event a handler reads, with their types (each optional)."""

    version: StrictStr | None = None
    routeKey: StrictStr | None = None
    rawPath: StrictStr | None = None
    rawQueryString: StrictStr | None = None
    cookies: list[StrictStr] | None = None
    headers: _Strings = None
    queryStringParameters: _Strings = None
    pathParameters: _Strings = None
    stageVariables: _Strings = None
    requestContext: _RequestContext | None = None
    body: StrictStr | None = None
    isBase64Encoded: StrictBool | None = None


class _ScheduledEvent(_Loose):
    """EventBridge's fields, when present (a constant ``input`` may replace the rest)."""

    version: StrictStr | None = None
    id: StrictStr | None = None
    detail_type: StrictStr | None = Field(None, alias="detail-type")
    source: StrictStr | None = None
    account: StrictStr | None = None
    time: StrictStr | None = None
    region: StrictStr | None = None
    resources: list[StrictStr] | None = None
    detail: dict[str, Any] | None = None


_EVENT_MODELS: dict[str, tuple[str, type[BaseModel]]] = {
    "http": ("HTTP API v2.0", _HttpEvent),
    "schedule": ("EventBridge scheduled", _ScheduledEvent),
}


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects/arrays more than ``limit`` deep (iteratively)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def invoke_event(raw: bytes, kind: EventKind) -> dict[str, Any]:
    """The event of an Invoke API call: its payload ``raw`` (empty: ``{}``), a JSON object at
    most ``MAX_EVENT_DEPTH`` deep whose known fields have the types ``kind`` events have;
    ``BadEvent`` (saying which) otherwise."""
    if not raw.strip():
        return {}
    try:
        event = json.loads(raw)
    except RecursionError:
        raise BadEvent(f"The payload nests deeper than {MAX_EVENT_DEPTH} levels.") from None
    except ValueError as exc:
        raise BadEvent(f"The payload is not valid JSON: {exc}.") from None
    if not isinstance(event, dict):
        raise BadEvent(f"The payload must be a JSON object, not {_json_type(event)}.")
    if _depth_exceeds(event, MAX_EVENT_DEPTH):
        raise BadEvent(f"The payload nests deeper than {MAX_EVENT_DEPTH} levels.")
    if kind in _EVENT_MODELS:
        label, model = _EVENT_MODELS[kind]
        try:
            model.model_validate(event)
        except ValidationError as exc:
            wrong = sorted({".".join(map(str, e["loc"][:2])) for e in exc.errors()})
            raise BadEvent(
                f"The payload is not a valid {label} event: wrong type of {', '.join(wrong)}."
            ) from None
    return event


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "an array"
