"""POST /api/schedule-email/bulk: up to 1,000 email deliveries, all or none -> 202 {jobIds}."""

from __future__ import annotations

from shared.http import Request, Response, http_handler
from shared.scheduling import scheduled_bulk
from shared.schemas import BulkScheduledResponse, EmailBulkCreate


@http_handler(body=EmailBulkCreate, response=BulkScheduledResponse)
def handler(request: Request[EmailBulkCreate]) -> Response:
    return scheduled_bulk(request, "email", request.body.messages)
