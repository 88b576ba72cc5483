"""Job ``webhooks``: POST a finished job's record to the ``webhookUrl`` its creator gave
(signed, ``webhook-id`` = this webhook job's id; a user-given URL, so guarded)."""

from __future__ import annotations

from typing import Any

from shared.delivery.send import deliver
from shared.jobs.store import Job


def process(job: Job) -> dict[str, Any]:
    return deliver(job, job.data["url"], job.data["payload"], guarded=True)
