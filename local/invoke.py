"""``qs invoke``: call one handler in-process with a given or synthesised event."""

from __future__ import annotations

from typing import Any

import pendulum

from local.context import LambdaContext
from local.cron import cron_jobs
from local.devenv import api_key
from local.events import sample_http_event, scheduled_event
from local.manifest import Function, Manifest
from shared.settings import settings

#: Replaced in an ``--event`` file or ``--data`` by the API key in effect (``qs dev``'s under a
#: running ``qs dev``), as in ``tests/events/http_post_schedule_sms.json``.
API_KEY_PLACEHOLDER = "${API_KEY}"


def default_event(manifest: Manifest, fn: Function) -> Any:
    """With no ``--data``: a v2.0 event for the function's first route (carrying the API key in
    effect: ``qs dev``'s under a running ``qs dev``), or a Scheduled Event for its first
    schedule, or ``{}``."""
    if fn.routes:
        route = fn.routes[0]
        method = "GET" if route.method == "*" else route.method
        return sample_http_event(
            method, route.path, api_key=api_key(settings), account_id=settings.aws_account_id
        )
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
