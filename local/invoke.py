"""``qs invoke``: call one handler in-process with a given or synthesised event."""

from __future__ import annotations

from typing import Any

import pendulum

from local.context import LambdaContext
from local.cron import cron_jobs
from local.events import scheduled_event
from local.manifest import Function, Manifest
from shared.settings import settings


def default_event(manifest: Manifest, fn: Function) -> Any:
    """With no ``--data``: a v2.0 event for the function's first route, or a Scheduled Event
    for its first schedule, or ``{}``."""
    if fn.routes:
        route = fn.routes[0]
        method = "GET" if route.method == "*" else route.method
        now = pendulum.now("UTC")
        return {
            "version": "2.0",
            "routeKey": f"{method} {route.path}",
            "rawPath": route.path,
            "rawQueryString": "",
            "headers": {"host": "localhost", "user-agent": "qs-invoke"},
            "requestContext": {
                "accountId": settings.aws_account_id,
                "apiId": "local",
                "http": {
                    "method": method,
                    "path": route.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "qs-invoke",
                },
                "requestId": "qs-invoke",
                "routeKey": f"{method} {route.path}",
                "stage": "$default",
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": False,
        }
    for job in cron_jobs(manifest):
        if job.function.name == fn.name:
            return scheduled_event(
                rule_name=job.rule_name,
                time=pendulum.now("UTC"),
                region=settings.aws_region,
                account_id=settings.aws_account_id,
                input=job.schedule.input,
            )
    return {}


def invoke(fn: Function, event: Any) -> Any:
    """Run ``fn``'s handler once with ``event`` and a Lambda-like context."""
    context = LambdaContext(
        fn.name,
        timeout_s=fn.timeout_s,
        region=settings.aws_region,
        account_id=settings.aws_account_id,
    )
    return fn.load()(event, context)
