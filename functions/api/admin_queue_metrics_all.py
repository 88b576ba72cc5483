"""GET /v1/admin/queue/metrics/all (seed 003): ``{aiJobs: {queue, waiting, …, total}, …}``, every
job queue under its camel-cased name (admin JWT or basic auth; a viewer JWT may read)."""

from __future__ import annotations

from typing import Any

from shared.admin.seeds import LaunchKitAll, launchkit_metrics_all
from shared.http import Request, http_handler


@http_handler(auth="admin", response=LaunchKitAll)
def handler(request: Request[Any]) -> LaunchKitAll:
    return launchkit_metrics_all()
