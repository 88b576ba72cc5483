"""GET /api/metrics: per-queue job counts, recent activity, throughput, wait and run times."""

from __future__ import annotations

from typing import Any

from shared.http import Request, http_handler
from shared.metrics import Metrics, collect


@http_handler(response=Metrics)
def handler(request: Request[Any]) -> Metrics:
    return collect()
