"""POST /api/jobs/{jobId}/reschedule {delay | sendAt [+ timezone]}: move a delayed job."""

from __future__ import annotations

from shared import scheduling
from shared.http import Request, http_handler
from shared.jobstore import now_ms
from shared.schemas import JobAction, Reschedule


@http_handler(body=Reschedule, response=JobAction)
def handler(request: Request[Reschedule]) -> JobAction:
    return scheduling.reschedule(request, request.body.due_at_ms(now_ms()))
