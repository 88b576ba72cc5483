"""POST /api/schedule-sms: schedule one SMS (seed body) -> 202 {success, jobId, message};
with ``options.fallback: "sync"`` while Redis is unreachable, sent in the call instead
(200, ``"mode": "sync-fallback"``, ``shared.delivery.fallback``)."""

from __future__ import annotations

from shared.delivery.fallback import scheduled_or_sent
from shared.http import Request, Response, http_handler
from shared.schemas import SMS_SCHEDULED, ScheduledResponse, SmsCreate


@http_handler(body=SmsCreate, response=ScheduledResponse)
def handler(request: Request[SmsCreate]) -> Response:
    return scheduled_or_sent(request, "sms", request.body, SMS_SCHEDULED)
