"""POST /api/jobs/bulk: up to 1,000 jobs of one queue ``{jobs: [{jobType, data, options?}]}``,
all or none -> 202 {success, jobIds, count}."""

from __future__ import annotations

from shared.general_jobs.create import create_bulk
from shared.general_jobs.schemas import BulkJobCreate
from shared.http import Request, Response, http_handler
from shared.schemas import BulkScheduledResponse


@http_handler(body=BulkJobCreate, response=BulkScheduledResponse)
def handler(request: Request[BulkJobCreate]) -> Response:
    return create_bulk(request)
