"""Local API Gateway (HTTP API, payload v2.0) + Lambda, built from ``serverless.yml``.

Each ``httpApi`` event becomes a Starlette route; a request becomes a v2.0 event, the handler
(imported once, then reused warm) runs with a Lambda-like context (on the event loop, or in a
worker thread when ``GATEWAY_THREADS`` > 0), and its result becomes the HTTP response. Routes
without path parameters are looked up in a dict before Starlette's router is consulted.
``POST /2015-03-31/functions/{name}/invocations`` is Lambda's Invoke API, as serverless-offline
offers it: under ``APP_ENV=dev`` (``qs dev``) for any API key; in production only for
``SERVICE_TOKEN`` (as a Bearer token), and not at all (404) when no ``SERVICE_TOKEN`` is set.
Its payload must be a JSON object fit for the target (``local.events.invoke_event``, else 400);
a handler's error is reported as Lambda does, with the stack trace only under ``APP_ENV=dev``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
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
from local.events import (
    BadEvent,
    EventKind,
    api_gateway_response,
    http_event,
    invoke_event,
    to_starlette_response,
)
from local.manifest import Function, HttpRoute, Manifest, load
from shared.async_bridge import run_bridged
from shared.http.auth import authenticate
from shared.http.problems import Problem
from shared.settings import settings

log = logging.getLogger("qs.gateway")

#: Lambda's Invoke API path, as the AWS SDKs and serverless-offline use it.
INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"
#: The Invoke API's ``X-Amz-Invocation-Type`` values.
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
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
    """Runs handlers like Lambda, with a Lambda-like context.

    With 0 threads (the default) a handler runs on the event loop itself, in a greenlet
    (``GATEWAY_GROUP_COMMIT``, the default): the job creations of concurrent requests wait on
    the loop and go to Redis together (``shared.jobs.group_commit``), the loop never blocked on
    them. A function's timeout is then only logged when exceeded, not enforced. With a pool
    (``GATEWAY_THREADS`` > 0) each call is bounded by its function's timeout (a 504), at the
    price of the thread hand-offs.
    """

    def __init__(self, threads: int, *, group_commit: bool = True) -> None:
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="lambda") if threads else None
        #: on the loop, handlers run in greenlets, so their job creations can wait on it
        #: (``shared.async_bridge``) and be written together (``shared.jobs.group_commit``)
        self.bridged = group_commit

    async def __call__(
        self, fn: Function, handler: Callable[..., Any], event: Any, *, background: bool = False
    ) -> Any:
        """The handler's result; ``background`` calls (the Invoke API's ``Event`` type, which
        nobody waits for) always run in a thread, bounded by the timeout, never on the loop."""
        context = LambdaContext(
            fn.name, timeout_s=fn.timeout_s, region=settings.aws_region,
            account_id=settings.aws_account_id,
        )  # fmt: skip
        if self.pool is None and not background:
            started = time.monotonic()
            try:
                if self.bridged:
                    return await run_bridged(handler, event, context)
                return handler(event, context)
            finally:
                if (elapsed := time.monotonic() - started) > fn.timeout_s:
                    log.warning(
                        "function %s ran %.1f s, past its timeout of %s s (not enforced with "
                        "GATEWAY_THREADS=0)", fn.name, elapsed, fn.timeout_s,
                    )  # fmt: skip
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


def _invoke_allowed(request: Request) -> Response | None:
    """None when the caller may use the Invoke API here, else the answer to give instead."""
    path = request.url.path
    headers = {k.lower(): v for k, v in request.headers.items()}
    if settings.app_env != "dev" and not settings.service_token:
        return problem(404, f"No route matches {request.method} {path}.", path)
    try:
        caller = authenticate(headers)
    except Problem as exc:
        return to_starlette_response(exc.to_response(path))
    if settings.app_env == "dev":
        return None
    if hmac.compare_digest(caller.secret.encode(), settings.service_token.encode()):
        return None
    return problem(403, "Outside APP_ENV=dev the Invoke API takes SERVICE_TOKEN only.", path)


def _event_kind(fn: Function) -> EventKind:
    return "http" if fn.routes else "schedule" if fn.schedules else "any"


def _handler_error(fn: Function, exc: Exception) -> Response:
    """A handler's exception as Lambda reports it (status 200, ``X-Amz-Function-Error``); its
    message and stack trace only under ``APP_ENV=dev``, as they may name server paths."""
    log.error("invocation of %s raised", fn.name, exc_info=exc)
    if settings.app_env == "dev":
        error: dict[str, Any] = {
            "errorMessage": str(exc) or type(exc).__name__,
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exception(exc)[1:],
        }
    else:
        error = {
            "errorMessage": "The function raised an unhandled error; see the gateway log.",
            "errorType": "Unhandled",
        }
    return JSONResponse(error, headers={"x-amz-function-error": "Unhandled"})


def _invoke_endpoint(manifest: Manifest, invoker: Invoker) -> Callable[[Request], Any]:
    handlers: dict[str, Callable[..., Any]] = {}

    async def invoke(request: Request) -> Response:
        path = request.url.path
        refused = _invoke_allowed(request)
        if refused is not None:
            return refused
        name = request.path_params["name"]
        try:
            fn = manifest.find(name)
        except KeyError:
            return problem(404, f"Function not found: {name}", path)
        invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type not in INVOCATION_TYPES:
            return problem(
                400, f"X-Amz-Invocation-Type must be one of {', '.join(INVOCATION_TYPES)}.", path
            )
        try:
            raw = await read_body(request.scope, request.receive, settings.max_body_bytes)
        except BodyTooLarge:
            return to_starlette_response(too_large_problem(path))
        try:
            event = invoke_event(raw, _event_kind(fn))
        except BadEvent as exc:
            return problem(400, str(exc), path)
        if invocation_type == "DryRun":
            return Response(status_code=204)
        try:
            if fn.name not in handlers:
                handlers[fn.name] = fn.load()
        except Exception as exc:  # an import error is the function's error, as in Lambda
            return _handler_error(fn, exc)
        if invocation_type == "Event":
            task = asyncio.create_task(invoker(fn, handlers[fn.name], event, background=True))
            task.add_done_callback(_log_async_failure(fn.name))
            return Response(status_code=202)
        try:
            result = await invoker(fn, handlers[fn.name], event)
        except TimeoutError:
            log.error("invocation of %s timed out after %ss", fn.name, fn.timeout_s)
            return problem(504, f"The function timed out after {fn.timeout_s} s.", path)
        except Exception as exc:  # Lambda reports handler errors in the body, with status 200
            return _handler_error(fn, exc)
        try:
            return Response(json.dumps(result), media_type="application/json")
        except (TypeError, ValueError):
            log.error("invocation of %s returned a result that is not JSON", fn.name)
            return problem(502, "The function's result is not JSON-serializable.", path)

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


def process_count(workers: int) -> int:
    """Gateway processes for ``--workers``/``GATEWAY_WORKERS`` = ``workers``: 0 means the
    machine's CPUs + 1, so one process runs while another waits on Redis."""
    return workers or (os.cpu_count() or 1) + 1


class LiteralRoutes:
    """ASGI app: a request whose method and path name a route without parameters goes straight
    to its function; every other one (parameters, 404, 405, lifespan) to Starlette's router."""

    def __init__(self, router: Starlette, table: dict[tuple[str, str], FunctionApp]) -> None:
        self.router = router
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            app = self.table.get((scope["method"], scope["path"]))
            if app is not None:
                await app(scope, receive, send)
                return
        await self.router(scope, receive, send)


def build_app(manifest: Manifest | None = None, threads: int | None = None) -> LiteralRoutes:
    """The gateway app for ``manifest`` (default: the project's ``serverless.yml``), running
    handlers on ``threads`` threads per process (default ``GATEWAY_THREADS``)."""
    manifest = manifest or load()
    invoke = Invoker(
        settings.gateway_threads if threads is None else threads,
        group_commit=settings.gateway_group_commit,
    )
    routes: list[Route] = []
    literal: dict[tuple[str, str], FunctionApp] = {}
    for route, fn in sorted(manifest.routes, key=_specificity):
        app = FunctionApp(route, fn, invoke)
        methods = ANY_METHOD if route.method == "*" else [route.method]
        routes.append(Route(starlette_path(route.path), app, methods=methods))
        if "{" not in route.path:
            for method in methods:
                literal.setdefault((method, route.path), app)
    routes.insert(0, Route(INVOKE_PATH, _invoke_endpoint(manifest, invoke), methods=["POST"]))
    router = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    return LiteralRoutes(router, literal)
