"""POST /v1/jobs/{type}: queue an AI job (summarize, classify, sentiment, translate, extract)
-> 202 with its record; an unknown type is 404."""

from __future__ import annotations

from shared.ai import jobs as ai_jobs
from shared.http import Request, Response, http_handler


@http_handler(body=ai_jobs.AiJobCreate)
def handler(request: Request[ai_jobs.AiJobCreate]) -> Response:
    return Response(ai_jobs.create(request), status=202)
