"""Job ``webhook-processing``: forward an inbound webhook ``{webhookId, channel, eventId,
payload, headers, receivedAt}`` to ``${APP_API_URL}/webhooks/{channel}`` (signed,
``webhook-id`` = ``webhookId``; retried like every delivery)."""

from __future__ import annotations

from typing import Any

from shared.delivery.send import deliver, join_url
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job
from shared.settings import settings


def process(job: Job) -> dict[str, Any]:
    if not settings.app_api_url:
        raise JobFailed("APP_API_URL is no longer set", retryable=False)
    url = join_url(settings.app_api_url, f"/webhooks/{job.data['channel']}")
    return deliver(job, url, job.data)
