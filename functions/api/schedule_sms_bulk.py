"""POST /api/schedule-sms/bulk: up to 1,000 sms deliveries, all or none -> 202 {jobIds}."""

from __future__ import annotations

from shared.http import Request, Response, http_handler
from shared.scheduling import scheduled_bulk
from shared.schemas import BulkScheduledResponse, SmsBulkCreate


@http_handler(body=SmsBulkCreate, response=BulkScheduledResponse)
def handler(request: Request[SmsBulkCreate]) -> Response:
    return scheduled_bulk(request, "sms", request.body.messages)
