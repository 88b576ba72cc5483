"""``GET /api/analytics``: an organisation's per-minute counts of one event."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from shared.general_jobs.analytics import read
from shared.general_jobs.schemas import AnalyticsQuery
from shared.http import Problem, Request
from shared.http.auth import sees_every_org
from shared.http.problems import validation_problem
from shared.jobs.store import JobStore
from shared.schemas import iso_ms


def counts(request: Request[Any]) -> dict[str, Any]:
    """``{success, event, org, from, to, total, minutes: [{minute, count}]}``, minutes with no
    event left out; ``from``/``to`` as ISO 8601 UTC, ``[from, to)``."""
    try:
        query = AnalyticsQuery.model_validate(request.query)
        from_ms, to_ms = query.window_ms(JobStore().redis_time_ms())
    except ValidationError as exc:
        raise validation_problem(exc) from None
    assert request.principal is not None
    org = request.principal.org
    if query.org is not None:
        if not sees_every_org(request.principal):
            raise Problem(403, "Only SERVICE_TOKEN may read another organisation's analytics.")
        org = query.org
    minutes = read(org, query.event, from_ms, to_ms)
    return {
        "success": True,
        "event": query.event,
        "org": org,
        "from": iso_ms(from_ms),
        "to": iso_ms(to_ms),
        "total": sum(count for _, count in minutes),
        "minutes": [{"minute": iso_ms(start), "count": count} for start, count in minutes],
    }
