"""GET /api/health/status: the whole service's health, for monitoring. 200 when ``ok``, 503 when
``degraded`` (no worker or scheduler alive, a backlogged queue) or ``unavailable``.

Its per-queue backlogs are every organisation's figures, so it needs operator credentials
(``SERVICE_TOKEN``, ``METRICS_TOKEN`` or the dashboard admin; an API key gets 403), like the
metrics. It names no host, key or address. ``lastCheck`` is the ``health-check`` cron
function's last result (failure rates, backends' reachability), null before its first run.
"""

from __future__ import annotations

from typing import Any

from shared.cron.health_watch import last as last_check
from shared.health import HealthReport, check
from shared.http import Request, Response, http_handler


@http_handler(auth="operator", response=HealthReport)
def handler(request: Request[Any]) -> Response:
    report = check()
    report.lastCheck = last_check()
    status = 200 if report.healthy else 503
    return Response(report, status=status, headers={"cache-control": "no-store"})
