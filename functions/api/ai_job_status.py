"""GET /v1/jobs/{id}: one AI job of the caller's organisation (404 for any other's)."""

from __future__ import annotations

from typing import Any

from shared.ai import jobs as ai_jobs
from shared.http import Request, http_handler


@http_handler()
def handler(request: Request[Any]) -> dict[str, Any]:
    return ai_jobs.record(ai_jobs.visible(request))
