"""POST /v1/admin/queue/pause?queue=ai-jobs (seed 003): start no new job of the queue (admin)."""

from __future__ import annotations

from typing import Any

from shared.admin.queues import set_paused
from shared.admin.seeds import LaunchKitPaused, seed_queue
from shared.http import Request, http_handler


@http_handler(auth="admin", response=LaunchKitPaused)
def handler(request: Request[Any]) -> LaunchKitPaused:
    name = seed_queue(request.query)
    set_paused(name, True)
    return LaunchKitPaused(queue=name, paused=True, message=f"Queue {name} paused")
