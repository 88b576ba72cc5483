"""POST /api/jobs: queue one job of any job type ``{jobType, data, options?}`` -> 202
{success, jobId, jobType, queue} (200 with the result when the job type answers at once)."""

from __future__ import annotations

from shared.general_jobs.create import create_one
from shared.general_jobs.schemas import JobCreate, JobCreated
from shared.http import Request, Response, http_handler


@http_handler(body=JobCreate, response=JobCreated)
def handler(request: Request[JobCreate]) -> Response:
    return create_one(request)
