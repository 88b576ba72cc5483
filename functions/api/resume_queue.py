"""POST /api/queues/{name}/resume: run this queue again, parked jobs first (admin basic auth)."""

from __future__ import annotations

from typing import Any

from shared.http import Request, http_handler
from shared.jobs.control import QueueState, set_paused


@http_handler(auth="admin", response=QueueState)
def handler(request: Request[Any]) -> QueueState:
    return set_paused(request, False)
