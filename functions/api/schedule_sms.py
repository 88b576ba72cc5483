"""POST /api/schedule-sms: schedule one SMS (seed body) -> 202 {success, jobId, message}."""

from __future__ import annotations

from shared.http import Request, Response, http_handler
from shared.scheduling import scheduled_one
from shared.schemas import SMS_SCHEDULED, ScheduledResponse, SmsCreate


@http_handler(body=SmsCreate, response=ScheduledResponse)
def handler(request: Request[SmsCreate]) -> Response:
    return scheduled_one(request, "sms", request.body, SMS_SCHEDULED)
