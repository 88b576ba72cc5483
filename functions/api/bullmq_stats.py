"""GET /api/bullmq/stats (seed 002): every queue's job counts, by queue name (operators:
``SERVICE_TOKEN``, as the seed's app calls it, ``METRICS_TOKEN``, or an admin)."""

from __future__ import annotations

from typing import Any

from shared.admin.seeds import BullmqStats, bullmq_stats
from shared.http import Request, http_handler


@http_handler(auth="operator", response=BullmqStats)
def handler(request: Request[Any]) -> BullmqStats:
    return bullmq_stats()
