"""Job ``email``: POST the email to ``EMAIL_API_URL`` + callback endpoint (seed contract)."""

from __future__ import annotations

from typing import Any

from shared.delivery.send import deliver, join_url
from shared.jobs.store import Job
from shared.settings import settings


def process(job: Job) -> dict[str, Any]:
    endpoint = (job.data.get("metadata") or {}).get("callbackEndpoint")
    url = join_url(settings.email_api_url, endpoint or settings.email_callback_endpoint)
    return deliver(job, url, {**job.data, "jobId": job.id})
