"""Job ``bulk-availability``: check the leads of a ``bulk-availability-check`` by their fresh
data from your app, report progress, post the results back (signed)."""

from __future__ import annotations

from typing import Any

from shared.general_jobs import bulk_availability
from shared.jobs.store import Job


def process(job: Job) -> dict[str, Any]:
    return bulk_availability.process(job)
