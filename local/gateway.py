"""Local API Gateway (HTTP API, payload v2.0) + Lambda, built from ``serverless.yml``.

Each ``httpApi`` event becomes a Starlette route; a request becomes a v2.0 event, the handler
(imported once, then reused warm) runs in a worker thread with a Lambda-like context, and its
result becomes the HTTP response. ``POST /2015-03-31/functions/{name}/invocations`` is Lambda's
Invoke API, as serverless-offline offers it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.context import LambdaContext
from local.events import http_event, to_starlette_response
from local.manifest import Function, HttpRoute, Manifest, load
from shared.http.auth import authenticate
from shared.http.problems import Problem
from shared.settings import settings

log = logging.getLogger("qs.gateway")

#: Lambda's Invoke API path, as the AWS SDKs and serverless-offline use it.
INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"
#: What API Gateway's ``ANY`` method matches (Starlette's default would be GET only).
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class BodyTooLarge(Exception):
    """The request body exceeded ``MAX_BODY_BYTES``."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read in chunks and abandoned as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def problem(status: int, detail: str, path: str, headers: dict[str, str] | None = None) -> Response:
    """A Starlette response carrying an RFC 9457 problem."""
    return to_starlette_response(Problem(status, detail, headers=headers).to_response(path))


def too_large(request: Request) -> Response:
    return problem(
        413,
        f"The body is larger than the limit of {settings.max_body_bytes} bytes.",
        request.url.path,
    )


def starlette_path(path: str) -> str:
    """API Gateway path syntax to Starlette's: ``{proxy+}`` (greedy) becomes ``{proxy:path}``."""
    return path.replace("+}", ":path}")


def _specificity(item: tuple[HttpRoute, Function]) -> tuple[bool, int, bool]:
    # API Gateway prefers the most specific match: literal paths, then fewer parameters,
    # greedy ones last, and an explicit method over ANY.
    route = item[0]
    return ("+}" in route.path, route.path.count("{"), route.method == "*")


async def _call(fn: Function, handler: Callable[..., Any], event: Any) -> Any:
    context = LambdaContext(
        fn.name,
        timeout_s=fn.timeout_s,
        region=settings.aws_region,
        account_id=settings.aws_account_id,
    )
    return await asyncio.wait_for(run_in_threadpool(handler, event, context), timeout=fn.timeout_s)


def _http_endpoint(route: HttpRoute, fn: Function) -> Callable[[Request], Any]:
    handler = fn.load()  # imported once: warm for every later request
    route_key = (
        "$default"
        if route.method == "*" and route.path == "/{proxy+}"
        else (f"{'ANY' if route.method == '*' else route.method} {route.path}")
    )

    async def endpoint(request: Request) -> Response:
        try:
            body = await read_body(request, settings.max_body_bytes)
        except BodyTooLarge:
            return too_large(request)
        event = await http_event(
            request,
            route_key=route_key,
            path_params=dict(request.path_params),
            body=body,
            account_id=settings.aws_account_id,
        )
        try:
            result = await _call(fn, handler, event)
        except TimeoutError:
            log.error("function %s timed out after %ss", fn.name, fn.timeout_s)
            return problem(504, f"The function timed out after {fn.timeout_s} s.", request.url.path)
        except Exception:
            log.exception("function %s raised", fn.name)
            return problem(
                500,
                "The function raised an unhandled error; see the gateway log.",
                request.url.path,
            )
        return to_starlette_response(result)

    return endpoint


def _invoke_endpoint(manifest: Manifest) -> Callable[[Request], Any]:
    handlers: dict[str, Callable[..., Any]] = {}

    async def invoke(request: Request) -> Response:
        try:
            authenticate({k.lower(): v for k, v in request.headers.items()})
        except Problem as exc:
            return to_starlette_response(exc.to_response(request.url.path))
        name = request.path_params["name"]
        try:
            fn = manifest.find(name)
        except KeyError:
            return problem(404, f"Function not found: {name}", request.url.path)
        try:
            raw = await read_body(request, settings.max_body_bytes)
        except BodyTooLarge:
            return too_large(request)
        try:
            event = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            return problem(400, f"The payload is not valid JSON: {exc}.", request.url.path)
        if fn.name not in handlers:
            handlers[fn.name] = fn.load()
        invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "Event":
            task = asyncio.create_task(_call(fn, handlers[fn.name], event))
            task.add_done_callback(_log_async_failure(fn.name))
            return Response(status_code=202)
        try:
            result = await _call(fn, handlers[fn.name], event)
        except Exception as exc:  # Lambda reports handler errors in the body, with status 200
            error = {
                "errorMessage": str(exc) or type(exc).__name__,
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_exception(exc)[1:],
            }
            return JSONResponse(error, headers={"x-amz-function-error": "Unhandled"})
        return Response(json.dumps(result), media_type="application/json")

    return invoke


def _log_async_failure(name: str) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("async invocation of %s failed: %r", name, task.exception())

    return done


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = {
        404: f"No route matches {request.method} {request.url.path}.",
        405: f"{request.method} is not allowed on {request.url.path}.",
    }.get(exc.status_code, str(exc.detail))
    return problem(exc.status_code, detail, request.url.path, headers=dict(exc.headers or {}))


def build_app(manifest: Manifest | None = None) -> Starlette:
    """The gateway app for ``manifest`` (default: the project's ``serverless.yml``)."""
    manifest = manifest or load()
    routes = [
        Route(
            starlette_path(route.path),
            _http_endpoint(route, fn),
            methods=ANY_METHOD if route.method == "*" else [route.method],
        )
        for route, fn in sorted(manifest.routes, key=_specificity)
    ]
    routes.insert(0, Route(INVOKE_PATH, _invoke_endpoint(manifest), methods=["POST"]))
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
