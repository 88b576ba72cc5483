"""GET /api/queues/{name}: one queue's stats, seed 004's ``getQueueStats`` shape (admin; a viewer
JWT may read)."""

from __future__ import annotations

from typing import Any

from shared.admin.queues import QueueStats, known_queue, stats
from shared.http import Request, http_handler


@http_handler(auth="admin", response=QueueStats)
def handler(request: Request[Any]) -> QueueStats:
    return stats([known_queue(request.path_params.get("name", ""))])[0]
