"""GET /v1/jobs?limit=&offset=&status=&type=: the organisation's AI jobs, newest first;
``limit`` (1-100) or ``offset`` (0-1,000,000) out of bounds is a 422."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from shared.ai import jobs as ai_jobs
from shared.http import Request, http_handler
from shared.http.problems import validation_problem
from shared.schemas import PageWindow


@http_handler()
def handler(request: Request[Any]) -> dict[str, Any]:
    try:
        PageWindow.model_validate(request.query)
    except ValidationError as exc:
        raise validation_problem(exc) from None
    return ai_jobs.listing(request)
