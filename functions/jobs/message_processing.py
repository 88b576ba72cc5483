"""Job ``message-processing``: hand a message (seed 004: ``{messageId, channelType, userId,
content, timestamp}``) to the app at ``APP_API_URL`` + ``MESSAGE_PROCESSING_ENDPOINT``."""

from __future__ import annotations

from typing import Any

from shared.general_jobs.app import deliver_to_app
from shared.jobs.store import Job
from shared.settings import settings


def process(job: Job) -> dict[str, Any]:
    return deliver_to_app(job, settings.message_processing_endpoint)
