"""POST /v1/admin/queue/clean?queue=ai-jobs[&state=&grace=&limit=] (seed 003): delete finished
jobs older than their retention, or than ``grace`` ms (admin)."""

from __future__ import annotations

from typing import Any

from shared.admin.seeds import LaunchKitCleaned, launchkit_clean, seed_queue
from shared.http import Request, http_handler


@http_handler(auth="admin", response=LaunchKitCleaned)
def handler(request: Request[Any]) -> LaunchKitCleaned:
    return launchkit_clean(seed_queue(request.query), request.query)
