"""GET /api/bullmq/metrics (seed 002): the same figures as ``GET /api/metrics`` (operators,
``SERVICE_TOKEN`` included)."""

from __future__ import annotations

from typing import Any

from shared.http import Request, http_handler
from shared.metrics import Metrics, collect


@http_handler(auth="operator", response=Metrics)
def handler(request: Request[Any]) -> Metrics:
    return collect()
