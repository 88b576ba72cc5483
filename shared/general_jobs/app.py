"""Delivering a general job to the app: POST to ``APP_API_URL`` + the job type's endpoint."""

from __future__ import annotations

from typing import Any

from shared.delivery.send import deliver, join_url
from shared.jobs.queues import QUEUES
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job
from shared.settings import settings


def deliver_to_app(job: Job, endpoint: str) -> dict[str, Any]:
    """POST ``{...data, jobId, jobType}`` to ``APP_API_URL`` + ``endpoint``, signed
    (``webhook-id`` = job id); a failed job (not retried) when ``APP_API_URL`` is unset.
    ``jobType`` is the one the job was created with (else its queue's name)."""
    job_type = job.options.get("jobType") or QUEUES[job.queue].part_of or job.queue
    if not settings.app_api_url:
        raise JobFailed(f"APP_API_URL is not set: nowhere to deliver {job_type}", retryable=False)
    url = join_url(settings.app_api_url, endpoint)
    return deliver(job, url, {**job.data, "jobId": job.id, "jobType": job_type})
