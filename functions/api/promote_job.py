"""POST /api/jobs/{jobId}/promote: run a delayed job now."""

from __future__ import annotations

from typing import Any

from shared import scheduling
from shared.http import Request, http_handler
from shared.schemas import JobAction


@http_handler(response=JobAction)
def handler(request: Request[Any]) -> JobAction:
    return scheduling.reschedule(request, None)
