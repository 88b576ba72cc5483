"""POST /api/bullmq/jobs: seed 002's path for adding a job (``{jobType, data}``), the same as
POST /api/jobs; its app calls with ``SERVICE_TOKEN`` as the Bearer key."""

from __future__ import annotations

from shared.general_jobs.create import create_one
from shared.general_jobs.schemas import JobCreate, JobCreated
from shared.http import Request, Response, http_handler


@http_handler(body=JobCreate, response=JobCreated)
def handler(request: Request[JobCreate]) -> Response:
    return create_one(request)
