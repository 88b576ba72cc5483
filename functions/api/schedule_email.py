"""POST /api/schedule-email: schedule one email (seed body) -> 202 {success, jobId, message}."""

from __future__ import annotations

from shared.http import Request, Response, http_handler
from shared.scheduling import scheduled_one
from shared.schemas import EMAIL_SCHEDULED, EmailCreate, ScheduledResponse


@http_handler(body=EmailCreate, response=ScheduledResponse)
def handler(request: Request[EmailCreate]) -> Response:
    return scheduled_one(request, "email", request.body, EMAIL_SCHEDULED)
