"""GET /v1/usage: AI jobs, tokens and cost per job type for the caller's organisation."""

from __future__ import annotations

from typing import Any

from shared.ai import jobs as ai_jobs
from shared.http import Request, http_handler


@http_handler()
def handler(request: Request[Any]) -> dict[str, Any]:
    return ai_jobs.usage(request)
