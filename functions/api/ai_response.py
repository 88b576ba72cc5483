"""POST /api/ai-response: queue an AI reply to a message (seed body), limited per workspace
and per contact -> 202 {success, jobId, message}, or 429 with Retry-After."""

from __future__ import annotations

from shared.ai.response import AiResponseAccepted, AiResponseCreate, accept
from shared.http import Request, Response, http_handler


@http_handler(body=AiResponseCreate, response=AiResponseAccepted)
def handler(request: Request[AiResponseCreate]) -> Response:
    return accept(request)
