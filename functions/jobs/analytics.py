"""Job ``analytics`` (``track-event``): count the event (seed 004: ``{event, data, userId,
timestamp}``) in its organisation's per-minute counters, read by ``GET /api/analytics``."""

from __future__ import annotations

from typing import Any

from shared.general_jobs.analytics import record
from shared.jobs.store import Job


def process(job: Job) -> dict[str, Any]:
    return record(job)
