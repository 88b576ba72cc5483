"""POST /api/jobs/{jobId}/reschedule {delay | sendAt [+ timezone]}: move a delayed job."""

from __future__ import annotations

from shared import scheduling
from shared.http import Request, http_handler
from shared.jobs.store import now_ms
from shared.schemas import JobAction, Reschedule


@http_handler(body=Reschedule, response=JobAction)
def handler(request: Request[Reschedule]) -> JobAction:
    body = request.body
    if body.delay is not None:  # counted from Redis' clock, as every due time
        return scheduling.reschedule(request, delay_ms=round(body.delay))
    return scheduling.reschedule(request, body.due_at_ms(now_ms()))
