"""GET /api/health: for load balancers. 200 whenever this gateway can accept and store jobs
(Redis answers and takes writes), 503 only when it cannot.

Worker, scheduler and backlog problems do not fail it (every gateway would leave rotation for a
problem none of them can fix): they show as ``status: "degraded"`` and ``reasons`` in the body,
and fail ``GET /api/health/status``. Open without credentials; it shows no host, key, address or
per-queue figure.
"""

from __future__ import annotations

from typing import Any

from shared.health import Health, check
from shared.http import Request, Response, http_handler


@http_handler(auth="none", response=Health)
def handler(request: Request[Any]) -> Response:
    report = check()
    return Response(
        report.summary(),
        status=200 if report.accepting else 503,
        headers={"cache-control": "no-store"},
    )
