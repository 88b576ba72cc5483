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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from local.context import LambdaContext
from local.events import api_gateway_response, http_event, to_starlette_response
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


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, read in chunks and abandoned as soon as it passes ``limit`` bytes."""
    declared = _declared_length(scope["headers"])
    if declared is not None and declared > limit:
        raise BodyTooLarge(declared)
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def send_result(send: Send, result: Any) -> None:
    """Send a function's result as API Gateway would."""
    status, headers, body = api_gateway_response(result)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def problem(status: int, detail: str, path: str, headers: dict[str, str] | None = None) -> Response:
    """A Starlette response carrying an RFC 9457 problem."""
    return to_starlette_response(Problem(status, detail, headers=headers).to_response(path))


def too_large_problem(path: str) -> dict[str, Any]:
    return Problem(
        413, f"The body is larger than the limit of {settings.max_body_bytes} bytes."
    ).to_response(path)


def starlette_path(path: str) -> str:
    """API Gateway path syntax to Starlette's: ``{proxy+}`` (greedy) becomes ``{proxy:path}``."""
    return path.replace("+}", ":path}")


def _specificity(item: tuple[HttpRoute, Function]) -> tuple[bool, int, bool]:
    # API Gateway prefers the most specific match: literal paths, then fewer parameters,
    # greedy ones last, and an explicit method over ANY.
    route = item[0]
    return ("+}" in route.path, route.path.count("{"), route.method == "*")


class Invoker:
    """Runs handlers like Lambda: in worker threads, each call bounded by its function's timeout.

    A small pool (``GATEWAY_THREADS``) overlaps one call's Redis round trip with another's
    Python work; many more threads only add GIL contention. With 0 threads handlers run on the
    event loop itself: the least overhead, but the function's timeout is not enforced.
    """

    def __init__(self, threads: int) -> None:
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="lambda") if threads else None

    async def __call__(self, fn: Function, handler: Callable[..., Any], event: Any) -> Any:
        context = LambdaContext(
            fn.name, timeout_s=fn.timeout_s, region=settings.aws_region,
            account_id=settings.aws_account_id,
        )  # fmt: skip
        if self.pool is None:
            return handler(event, context)
        call = asyncio.get_running_loop().run_in_executor(self.pool, handler, event, context)
        async with asyncio.timeout(fn.timeout_s):
            return await call


class FunctionApp:
    """The ASGI app of one ``httpApi`` route: request -> v2.0 event -> handler -> response."""

    def __init__(self, route: HttpRoute, fn: Function, invoke: Invoker) -> None:
        self.fn = fn
        self.handler = fn.load()  # imported once: warm for every later request
        self.invoke = invoke
        whole = route.method == "*" and route.path == "/{proxy+}"
        method = "ANY" if route.method == "*" else route.method
        self.route_key = "$default" if whole else f"{method} {route.path}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        try:
            body = await read_body(scope, receive, settings.max_body_bytes)
        except BodyTooLarge:
            await send_result(send, too_large_problem(path))
            return
        event = http_event(
            scope,
            route_key=self.route_key,
            path_params=scope.get("path_params", {}),
            body=body,
            account_id=settings.aws_account_id,
        )
        try:
            result = await self.invoke(self.fn, self.handler, event)
        except TimeoutError:
            log.error("function %s timed out after %ss", self.fn.name, self.fn.timeout_s)
            detail = f"The function timed out after {self.fn.timeout_s} s."
            result = Problem(504, detail).to_response(path)
        except Exception:
            log.exception("function %s raised", self.fn.name)
            detail = "The function raised an unhandled error; see the gateway log."
            result = Problem(500, detail).to_response(path)
        await send_result(send, result)


def _invoke_endpoint(manifest: Manifest, invoker: Invoker) -> Callable[[Request], Any]:
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
            raw = await read_body(request.scope, request.receive, settings.max_body_bytes)
        except BodyTooLarge:
            return to_starlette_response(too_large_problem(request.url.path))
        try:
            event = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            return problem(400, f"The payload is not valid JSON: {exc}.", request.url.path)
        if fn.name not in handlers:
            handlers[fn.name] = fn.load()
        invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "Event":
            task = asyncio.create_task(invoker(fn, handlers[fn.name], event))
            task.add_done_callback(_log_async_failure(fn.name))
            return Response(status_code=202)
        try:
            result = await invoker(fn, handlers[fn.name], event)
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
    invoke = Invoker(settings.gateway_threads)
    routes = [
        Route(
            starlette_path(route.path),
            FunctionApp(route, fn, invoke),
            methods=ANY_METHOD if route.method == "*" else [route.method],
        )
        for route, fn in sorted(manifest.routes, key=_specificity)
    ]
    routes.insert(0, Route(INVOKE_PATH, _invoke_endpoint(manifest, invoke), methods=["POST"]))
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
