"""GET /v1/jobs?limit=&offset=&status=&type=: the organisation's AI jobs, newest first."""

from __future__ import annotations

from typing import Any

from shared import ai_jobs
from shared.http import Request, http_handler


@http_handler()
def handler(request: Request[Any]) -> dict[str, Any]:
    return ai_jobs.listing(request)
