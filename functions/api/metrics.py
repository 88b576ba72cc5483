"""GET /api/metrics: per-queue job counts, recent activity, throughput, wait and run times.

Every organisation's figures, so operators only: ``SERVICE_TOKEN``, ``METRICS_TOKEN`` or the
dashboard admin (an API key gets 403). ``lastCheck``: the ``health-check`` cron function's last
result.
"""

from __future__ import annotations

from typing import Any

from shared.cron.health_watch import last as last_check
from shared.http import Request, http_handler
from shared.metrics import Metrics, collect


@http_handler(auth="operator", response=Metrics)
def handler(request: Request[Any]) -> Metrics:
    metrics = collect()
    metrics.last_check = last_check()
    return metrics
