"""Health alerts: a signed POST to ``ALERT_WEBHOOK_URL`` when the status of ``health-check``
changes (healthy -> unhealthy, unhealthy -> healthy); nothing while it stays the same.

The status last announced (``notified``, with when) is kept in Redis and in this process; the
newer copy counts, so a Redis outage is announced too (by the process that saw it), and so is
the recovery. Unset counts as healthy: the first alert is the first unhealthy check. An alert
that fails keeps its ``webhook-id`` (``pending``) and is sent again by the next check while
the status still differs: at least once, deduplicable by the receiver. Signed as every
callback (Standard Webhooks, ``WEBHOOK_SECRET``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from shared.cron.health_watch import HealthCheck, health_key
from shared.delivery.callbacks import callback_client
from shared.jobs.keys import ulid
from shared.redis_client import get_redis
from shared.settings import settings

log = logging.getLogger("qs.cron.alerts")

#: The alert ``type`` per new status.
TYPES = {"unhealthy": "health.unhealthy", "healthy": "health.recovered"}
#: Fields of the alert state (in the ``health_key()`` hash).
FIELDS = ("notified", "notifiedAt", "pending")

#: This process's copy of the alert state, per deployment (its key in Redis).
_memory: dict[str, dict[str, str]] = {}


def _load() -> dict[str, str]:
    """The newer of the stored and this process's alert state."""
    mine = dict(_memory.get(health_key(), {}))
    try:
        values = get_redis().hmget(health_key(), list(FIELDS))
    except redis.RedisError:
        return mine
    stored = {name: str(value) for name, value in zip(FIELDS, values, strict=True) if value}
    newer = int(mine.get("notifiedAt", 0)) > int(stored.get("notifiedAt", 0))
    return mine if newer else stored


def _save(state: dict[str, str]) -> None:
    _memory[health_key()] = dict(state)
    try:
        pipe = get_redis().pipeline(transaction=True)
        pipe.hdel(health_key(), *FIELDS)
        if state:
            pipe.hset(health_key(), mapping=state)  # type: ignore[arg-type]
        pipe.execute()
    except redis.RedisError:
        log.warning("alert state kept in this process only: Redis unreachable")


def payload(result: HealthCheck, previous: str, alert_id: str) -> dict[str, Any]:
    return {
        "type": TYPES[result.status],
        "alertId": alert_id,
        "status": result.status,
        "previousStatus": previous,
        "reasons": result.reasons,
        "checkedAt": result.checkedAt,
        "service": "queue-services",
    }


def notify(result: HealthCheck) -> str | None:
    """Announce a change of status; ``sent``, ``failed: <why>``, or None (no change, or no
    ``ALERT_WEBHOOK_URL``)."""
    if not settings.alert_webhook_url:
        return None
    state = _load()
    previous = state.get("notified", "healthy")
    if previous == result.status:
        if state.pop("pending", None):
            _save(state)
        return None
    status, _, alert_id = state.get("pending", "").partition(":")
    if status != result.status or not alert_id:
        alert_id = f"alert-{ulid()}"
        state["pending"] = f"{result.status}:{alert_id}"
        _save(state)
    body = payload(result, previous, alert_id)
    outcome = callback_client().post(settings.alert_webhook_url, body, message_id=alert_id)
    if not outcome.ok:
        log.warning("health alert %s not delivered: %s", alert_id, outcome.error)
        return f"failed: {outcome.error or outcome.status}"
    _save({"notified": result.status, "notifiedAt": str(time.time_ns() // 1_000_000)})
    log.info("health alert %s sent: %s", alert_id, body["type"])
    return "sent"
