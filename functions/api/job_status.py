"""GET /api/job-status/{jobId}: state, attempts, times, result and last error of a job."""

from __future__ import annotations

from typing import Any

from shared import scheduling
from shared.http import Request, http_handler
from shared.schemas import JobStatus


@http_handler(response=JobStatus)
def handler(request: Request[Any]) -> JobStatus:
    return scheduling.status(request)
