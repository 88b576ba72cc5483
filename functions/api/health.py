"""GET /api/health: 200 when Redis, a worker and a scheduler are alive; 503 with reasons if not.

Open without credentials (for load balancers); it reveals no host, key or address.
"""

from __future__ import annotations

from shared.health import HealthReport, check
from shared.http import Request, Response, http_handler


@http_handler(auth="none", response=HealthReport)
def handler(request: Request) -> Response:
    report = check()
    return Response(
        report, status=200 if report.healthy else 503, headers={"cache-control": "no-store"}
    )
