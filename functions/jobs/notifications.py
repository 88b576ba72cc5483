"""Job ``notifications``: a notification (seed 004: ``{userId, type, title, message}``) for the
app to show or send, at ``APP_API_URL`` + ``NOTIFICATIONS_ENDPOINT``."""

from __future__ import annotations

from typing import Any

from shared.general_jobs.app import deliver_to_app
from shared.jobs.store import Job
from shared.settings import settings


def process(job: Job) -> dict[str, Any]:
    return deliver_to_app(job, settings.notifications_endpoint)
