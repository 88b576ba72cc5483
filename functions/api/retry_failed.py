"""POST /api/queues/{name}/retry-failed: run the queue's failed jobs again, each with a fresh
set of attempts (admin)."""

from __future__ import annotations

from typing import Any

from shared.admin.queues import Retried, known_queue, retry_failed
from shared.http import Request, http_handler


@http_handler(auth="admin", response=Retried)
def handler(request: Request[Any]) -> Retried:
    name = known_queue(request.path_params.get("name", ""))
    return Retried(queue=name, retried=retry_failed(name))
