"""Job ``email``: POST the email to ``EMAIL_API_URL`` + callback endpoint (seed contract), or
send it through SES (``EMAIL_PROVIDER=ses`` or ``metadata.provider: "ses"``)."""

from __future__ import annotations

from typing import Any

from shared.delivery.providers import provider_of
from shared.delivery.send import deliver, join_url
from shared.delivery.ses import send_email
from shared.jobs.store import Job
from shared.settings import settings


def process(job: Job) -> dict[str, Any]:
    if provider_of("email", job) == "ses":
        return send_email(job)
    endpoint = (job.data.get("metadata") or {}).get("callbackEndpoint")
    url = join_url(settings.email_api_url, endpoint or settings.email_callback_endpoint)
    return {"provider": "callback", **deliver(job, url, {**job.data, "jobId": job.id})}
