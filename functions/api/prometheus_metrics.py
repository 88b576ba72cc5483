"""GET /metrics: the figures of /api/metrics in Prometheus' text format.

For scrapers: ``Authorization: Bearer <METRICS_TOKEN>`` (Prometheus' ``authorization``
setting); ``SERVICE_TOKEN`` and the dashboard admin work too, an API key gets 403.
"""

from __future__ import annotations

from typing import Any

from shared.http import Request, Response, http_handler
from shared.metrics import collect, prometheus_text

#: Prometheus' text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@http_handler(auth="operator")
def handler(request: Request[Any]) -> Response:
    return Response(prometheus_text(collect()).decode(), content_type=CONTENT_TYPE)
