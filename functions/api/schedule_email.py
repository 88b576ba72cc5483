"""POST /api/schedule-email: schedule one email (seed body) -> 202 {success, jobId, message};
with ``options.fallback: "sync"`` while Redis is unreachable, sent in the call instead
(200, ``"mode": "sync-fallback"``, ``shared.delivery.fallback``)."""

from __future__ import annotations

from shared.delivery.fallback import scheduled_or_sent
from shared.http import Request, Response, http_handler
from shared.schemas import EMAIL_SCHEDULED, EmailCreate, ScheduledResponse


@http_handler(body=EmailCreate, response=ScheduledResponse)
def handler(request: Request[EmailCreate]) -> Response:
    return scheduled_or_sent(request, "email", request.body, EMAIL_SCHEDULED)
