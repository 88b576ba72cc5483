"""GET /api/analytics?event=&from=&to=: the organisation's per-minute counts of one tracked
event (``track-event`` jobs), at most 7 days at once."""

from __future__ import annotations

from typing import Any

from shared.general_jobs.analytics_read import counts
from shared.http import Request, http_handler


@http_handler()
def handler(request: Request[Any]) -> dict[str, Any]:
    return counts(request)
