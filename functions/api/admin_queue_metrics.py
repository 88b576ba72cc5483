"""GET /v1/admin/queue/metrics?queue=ai-jobs (seed 003): one queue's counts and total (admin JWT
or basic auth; a viewer JWT may read)."""

from __future__ import annotations

from typing import Any

from shared.admin.seeds import LaunchKitMetrics, launchkit_metrics, seed_queue
from shared.http import Request, http_handler


@http_handler(auth="admin", response=LaunchKitMetrics)
def handler(request: Request[Any]) -> LaunchKitMetrics:
    return launchkit_metrics(seed_queue(request.query))
