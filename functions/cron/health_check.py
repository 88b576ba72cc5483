"""Cron ``health-check``: logs the health report; a warning with the reasons when degraded,
an error when the service cannot accept jobs."""

from __future__ import annotations

import logging
from typing import Any

from shared.health import check

log = logging.getLogger("qs.cron.health_check")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = check()
    backlog = {name: q.waiting for name, q in report.queues.items()}
    if report.healthy:
        log.info("health-check ok: workers=%d waiting=%s", report.workers.alive, backlog)
    elif report.accepting:
        log.warning("health-check degraded: %s", "; ".join(report.reasons))
    else:
        log.error("health-check unavailable: %s", "; ".join(report.reasons))
    return {
        "status": report.status,
        "accepting": report.accepting,
        "reasons": report.reasons,
        "scheduledAt": event.get("time"),
    }
