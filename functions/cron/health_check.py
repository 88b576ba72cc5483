"""Cron ``health-check``: logs the health report, a warning with the reasons when unhealthy."""

from __future__ import annotations

import logging
from typing import Any

from shared.health import check

log = logging.getLogger("qs.cron.health_check")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = check()
    backlog = {name: q.waiting for name, q in report.queues.items()}
    if report.healthy:
        log.info("health-check ok: workers=%d backlog=%s", report.workers.alive, backlog)
    else:
        log.warning("health-check unhealthy: %s", "; ".join(report.reasons))
    return {"status": report.status, "reasons": report.reasons, "scheduledAt": event.get("time")}
