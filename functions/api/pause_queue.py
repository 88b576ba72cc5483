"""POST /api/queues/{name}/pause: start no new job of this queue (admin basic auth)."""

from __future__ import annotations

from typing import Any

from shared.http import Request, http_handler
from shared.jobs.control import QueueState, set_paused


@http_handler(auth="admin", response=QueueState)
def handler(request: Request[Any]) -> QueueState:
    return set_paused(request, True)
