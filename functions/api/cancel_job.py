"""DELETE /api/jobs/{jobId}: cancel a delayed or waiting job (409 once it has started)."""

from __future__ import annotations

from typing import Any

from shared import scheduling
from shared.http import Request, http_handler
from shared.schemas import JobAction


@http_handler(response=JobAction)
def handler(request: Request[Any]) -> JobAction:
    return scheduling.cancel(request)
