"""Job ``email-sending``: an email (seed 004: ``{to, from, subject, body, html}``) for the app
to send, at ``APP_API_URL`` + ``EMAIL_SENDING_ENDPOINT``."""

from __future__ import annotations

from typing import Any

from shared.general_jobs.app import deliver_to_app
from shared.jobs.store import Job
from shared.settings import settings


def process(job: Job) -> dict[str, Any]:
    return deliver_to_app(job, settings.email_sending_endpoint)
