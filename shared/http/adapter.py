"""Turns an API Gateway HTTP API v2.0 event into a typed call, and its result into a response.

A function module declares its route's contract once, where the function is defined::

    @http_handler(body=SmsCreate)
    def handler(request: Request[SmsCreate]) -> Response: ...

The decorated ``handler(event, context)`` is what Lambda and the emulator call.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import redis
from pydantic import BaseModel, ValidationError

from shared.http.auth import authenticate, authenticate_admin, authenticate_operator
from shared.http.problems import Problem, validation_problem
from shared.http.same_site import check_same_site
from shared.http.store_errors import RETRY_AFTER_S, unavailable_detail
from shared.settings import ApiKey, settings

log = logging.getLogger("qs.http")

B = TypeVar("B", bound=BaseModel)


@dataclass
class Request(Generic[B]):
    """What a handler sees of one HTTP request."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    path_params: dict[str, str]
    raw_body: bytes
    request_id: str
    principal: ApiKey | None = None
    body: B = None  # type: ignore[assignment]  # set when the route declares a body model
    event: Mapping[str, Any] = field(default_factory=dict, repr=False)
    context: Any = None

    def json(self) -> Any:
        """The body parsed as JSON; 400 when it is not JSON."""
        if not self.raw_body.strip():
            raise Problem(400, "The request body is empty; a JSON document is expected.")
        try:
            return json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Problem(400, f"The request body is not valid JSON: {exc}.") from None


@dataclass
class Response:
    """A handler's answer; ``body`` is JSON-encoded unless it is ``str``/``bytes``."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def to_lambda(self) -> dict[str, Any]:
        """The Lambda proxy response dict."""
        headers = {"content-type": self.content_type, **self.headers}
        if isinstance(self.body, bytes):
            return {
                "statusCode": self.status,
                "headers": headers,
                "body": base64.b64encode(self.body).decode(),
                "isBase64Encoded": True,
            }
        if isinstance(self.body, str):
            text = self.body
        elif isinstance(self.body, BaseModel):
            text = self.body.model_dump_json(by_alias=True)
        else:
            text = json.dumps(_jsonable(self.body), separators=(",", ":"))
        return {
            "statusCode": self.status,
            "headers": headers,
            "body": text,
            "isBase64Encoded": False,
        }


def parse_body(model: type[B], request: Request[Any]) -> B:
    """The JSON body validated into ``model``: 400 when it is not JSON, 422 when invalid.

    Parsed by pydantic's own JSON reader (``NaN`` and ``Infinity`` reach the field validators,
    which refuse them with a 422 naming the field).
    """
    if not request.raw_body.strip():
        raise Problem(400, "The request body is empty; a JSON document is expected.")
    try:
        return model.model_validate_json(request.raw_body)
    except ValidationError as exc:  # only the request's own: others are server bugs (500)
        bad_json = [e for e in exc.errors() if e["type"] == "json_invalid"]
        if bad_json:
            raise Problem(
                400, f"The request body is not valid JSON: {bad_json[0]['msg']}."
            ) from None
        raise validation_problem(exc) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=False)
    return value


def parse_event(event: Mapping[str, Any], context: Any = None) -> Request[Any]:
    """A ``Request`` from a v2.0 event; missing parts default (``qs invoke`` may send ``{}``)."""
    http = event.get("requestContext", {}).get("http", {})
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw_body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(400, "The body is flagged base64 but is not valid base64.") from None
    else:
        raw_body = raw.encode() if isinstance(raw, str) else bytes(raw)
    return Request(
        method=http.get("method", "GET").upper(),
        path=event.get("rawPath") or http.get("path") or "/",
        headers={k.lower(): v for k, v in (event.get("headers") or {}).items()},
        query=dict(event.get("queryStringParameters") or {}),
        path_params=dict(event.get("pathParameters") or {}),
        raw_body=raw_body,
        request_id=event.get("requestContext", {}).get("requestId", ""),
        event=event,
        context=context,
    )


Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]

#: Who may call a route: an API key holder, the dashboard admin, an operator (every
#: organisation's figures: ``SERVICE_TOKEN``, ``METRICS_TOKEN`` or the admin), or anyone.
AuthMode = Literal["key", "admin", "operator", "none"]


def http_handler(
    *, body: type[B] | None = None, auth: AuthMode = "key", response: type[BaseModel] | None = None
) -> Callable[[Callable[[Request[B]], Any]], Handler]:
    """Wrap ``fn(request)`` as a Lambda ``handler(event, context)``.

    ``auth``: ``key`` needs a Bearer API key, ``admin`` the dashboard's basic credentials or an
    admin JWT (a ``viewer`` JWT for GET),
    ``operator`` see ``authenticate_operator`` (403 for an API key), ``none`` nothing (401
    otherwise). ``body``: validate the JSON body into this model (400 malformed, 422 invalid).
    ``response`` documents the success body. Errors are problem+json; a job store that cannot
    take the request is 503 with ``Retry-After``, saying whether anything may have been written
    (``shared.http.store_errors``).
    """

    def wrap(fn: Callable[[Request[B]], Any]) -> Handler:
        @functools.wraps(fn)
        def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
            request: Request[Any] | None = None
            try:
                request = parse_event(event, context)
                if auth == "key":
                    request.principal = authenticate(request.headers)
                elif auth == "admin":
                    read_only = request.method in ("GET", "HEAD")  # a viewer JWT may read
                    if not read_only:  # a browser on another site resends basic credentials
                        check_same_site(request.headers)
                    request.principal = authenticate_admin(request.headers, read_only=read_only)
                elif auth == "operator":
                    request.principal = authenticate_operator(request.headers)
                if len(request.raw_body) > settings.max_body_bytes:
                    raise Problem(
                        413,
                        f"The body is {len(request.raw_body)} bytes; the limit is "
                        f"{settings.max_body_bytes} bytes.",
                    )
                if body is not None:
                    request.body = parse_body(body, request)
                result = fn(request)
            except Problem as problem:
                return problem.to_response(_instance(request))
            except Exception as exc:
                detail = unavailable_detail(exc) if isinstance(exc, redis.RedisError) else None
                if detail is None:
                    log.exception("unhandled error", extra={"request_id": _rid(request)})
                    return Problem(
                        500, "An unexpected error occurred; it has been logged."
                    ).to_response(_instance(request))
                log.error("redis unavailable: %s", exc, extra={"request_id": _rid(request)})
                return Problem(
                    503, detail, headers={"retry-after": str(RETRY_AFTER_S)}
                ).to_response(_instance(request))
            if not isinstance(result, Response):
                result = Response(result)
            return result.to_lambda()

        handler.request_model = body  # type: ignore[attr-defined]
        handler.response_model = response  # type: ignore[attr-defined]
        handler.requires_auth = auth  # type: ignore[attr-defined]
        return handler

    return wrap


def _instance(request: Request[Any] | None) -> str | None:
    return request.path if request else None


def _rid(request: Request[Any] | None) -> str:
    return request.request_id if request else ""
