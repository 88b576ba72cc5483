"""Cron ``health-check`` (every 5 minutes): Redis, workers, scheduler, backlogs, failure rates
and backends; keeps the result for ``/api/health/status`` and ``/api/metrics``; a change to
unhealthy (and back) POSTs a signed alert to ``ALERT_WEBHOOK_URL``."""

from __future__ import annotations

import logging
from typing import Any

from shared.cron import alerts, health_watch
from shared.cron.runner import cron_function

log = logging.getLogger("qs.cron.health_check")


@cron_function("health-check")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = health_watch.run()
    if result.status == "healthy":
        log.info("health-check ok: workers=%d", result.health.workers.alive)
    elif result.health.accepting:
        log.warning("health-check unhealthy: %s", "; ".join(result.reasons))
    else:
        log.error("health-check unavailable: %s", "; ".join(result.reasons))
    alert = alerts.notify(result)
    return {
        "status": result.health.status,
        "healthy": result.status == "healthy",
        "accepting": result.health.accepting,
        "reasons": result.reasons,
        "backends": {name: b.reachable for name, b in result.backends.items()},
        "alert": alert,
        "scheduledAt": event.get("time"),
    }
