"""Job ``sms``: POST the message to ``SMS_API_URL`` + callback endpoint (seed contract), or
publish it through SNS (``SMS_PROVIDER=sns`` or ``metadata.provider: "sns"``)."""

from __future__ import annotations

from typing import Any

from shared.delivery.providers import provider_of
from shared.delivery.send import deliver, join_url
from shared.delivery.sns import send_sms
from shared.jobs.store import Job
from shared.settings import settings


def process(job: Job) -> dict[str, Any]:
    if provider_of("sms", job) == "sns":
        return send_sms(job)
    endpoint = (job.data.get("metadata") or {}).get("callbackEndpoint")
    url = join_url(settings.sms_api_url, endpoint or settings.sms_callback_endpoint)
    return {"provider": "callback", **deliver(job, url, {**job.data, "jobId": job.id})}
