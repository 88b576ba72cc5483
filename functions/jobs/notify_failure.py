"""Job ``failure-notices``: POST a failed job's notice to ``FAILURE_WEBHOOK_URL`` (seed §5)."""

from __future__ import annotations

from typing import Any

from shared.delivery.send import deliver
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job
from shared.settings import settings


def process(job: Job) -> dict[str, Any]:
    if not settings.failure_webhook_url:
        raise JobFailed("FAILURE_WEBHOOK_URL is no longer set", retryable=False)
    return deliver(job, settings.failure_webhook_url, job.data)
