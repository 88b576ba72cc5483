"""``retention``: delete every queue's finished jobs past their retention, and count them.

The scheduler's housekeeping already deletes up to ``CLEAN_BATCH`` expired jobs per queue and
state every second (``shared.jobs.due.remove_expired``); this runs the same step for every job
queue until nothing expired is left (or ``MAX_ROUNDS`` is reached), so a deployment without a
busy scheduler still forgets old jobs, and reports what went.
"""

from __future__ import annotations

from typing import Any

from shared.jobs.due import CLEAN_BATCH, remove_expired
from shared.jobs.queues import JOB_QUEUES
from shared.jobs.store import JobStore

#: Most retention calls per queue in one run (``CLEAN_BATCH`` jobs of each state per call).
MAX_ROUNDS = 100


def run(store: JobStore | None = None) -> dict[str, Any]:
    """``{"removed": {queue: {"completed": n, "failed": m}}, "total": n + m + …}``."""
    store = store or JobStore()
    removed: dict[str, dict[str, int]] = {}
    for spec in JOB_QUEUES:
        counts = {"completed": 0, "failed": 0}
        for _ in range(MAX_ROUNDS):
            batch = remove_expired(store, spec)
            for state, n in batch.items():
                counts[state] += n
            if max(batch.values()) < CLEAN_BATCH:
                break
        removed[spec.name] = counts
    total = sum(n for counts in removed.values() for n in counts.values())
    return {"removed": removed, "total": total}
