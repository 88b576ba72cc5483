"""The naive API baseline: Starlette, one route that parses the JSON body and sends it to Dramatiq.

Serve with ``uvicorn bench.naive_api:app`` and ``BENCH_REDIS_URL`` set (see
:mod:`bench.dramatiq_baseline`). No validation, no auth, no job store: the floor of what an
endpoint on Starlette + Dramatiq costs. ``delay`` is honoured through Dramatiq's delay queue.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench import dramatiq_baseline


async def schedule_sms(request: Request) -> JSONResponse:
    body = await request.json()
    delay = body.get("delay") if isinstance(body, dict) else None
    message = dramatiq_baseline.actor.send_with_options(args=(body,), delay=delay)
    return JSONResponse(
        {"success": True, "jobId": message.message_id, "message": "SMS scheduled successfully"},
        status_code=202,
    )


app = Starlette(routes=[Route("/api/schedule-sms", schedule_sms, methods=["POST"])])
