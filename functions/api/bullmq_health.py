"""GET /api/bullmq/health (seed 002): seed 004's ``{healthy, queues: {name: bool}}`` plus the
report's status and reasons; 503 when not healthy (operators, ``SERVICE_TOKEN`` included)."""

from __future__ import annotations

from typing import Any

from shared.admin.seeds import BullmqHealth, bullmq_health
from shared.http import Request, Response, http_handler


@http_handler(auth="operator", response=BullmqHealth)
def handler(request: Request[Any]) -> Response:
    health = bullmq_health()
    status = 200 if health.healthy else 503
    return Response(health, status=status, headers={"cache-control": "no-store"})
