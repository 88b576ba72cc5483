"""POST /api/queues/{name}/drain[?delayed=true]: delete the queue's waiting jobs, and its delayed
ones with ``delayed=true``; running jobs finish (admin)."""

from __future__ import annotations

from typing import Any

from shared.admin.queues import Drained, drain, flag, known_queue
from shared.http import Request, http_handler


@http_handler(auth="admin", response=Drained)
def handler(request: Request[Any]) -> Drained:
    name = known_queue(request.path_params.get("name", ""))
    return Drained(queue=name, removed=drain(name, delayed=flag(request.query, "delayed")))
