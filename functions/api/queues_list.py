"""GET /api/queues: every job queue's stats (seed 004's shape) and whether it is paused (admin;
a viewer JWT may read)."""

from __future__ import annotations

from typing import Any

from shared.admin.queues import QueueList, stats
from shared.http import Request, http_handler


@http_handler(auth="admin", response=QueueList)
def handler(request: Request[Any]) -> QueueList:
    return QueueList(queues=stats())
