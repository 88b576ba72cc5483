"""Job ``integration-sync``: page through your app's sync endpoint until done, resuming from the
stored cursor on a retry."""

from __future__ import annotations

from typing import Any

from shared.general_jobs import integration_sync
from shared.jobs.store import Job


def process(job: Job) -> dict[str, Any]:
    return integration_sync.process(job)
