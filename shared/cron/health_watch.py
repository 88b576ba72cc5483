"""``health-check``: the whole service's health every few minutes, kept in Redis, and an alert
when it turns unhealthy and when it recovers.

Checked: Redis (answers, takes writes), workers and schedulers alive, every queue's backlog
(``shared.health``), each queue's failure rate over the last 5 minutes (``shared.metrics``),
and whether each configured backend (``SMS_API_URL``, ``EMAIL_API_URL``, ``APP_API_URL``,
``AI_API_URL``) accepts a TCP connection. The result is kept under ``<prefix>:health:check``
for ``GET /api/health/status`` and ``GET /api/metrics`` (``lastCheck``).

Alerts (``shared.cron.alerts``) go out on a change of status only; a failed alert is tried
again at the next check with the same ``webhook-id``, so the receiver can drop a repeat.
"""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import urlsplit

import redis
from pydantic import BaseModel

from shared.health import HealthReport, check
from shared.metrics import collect
from shared.redis_client import get_redis, key
from shared.schemas import iso_ms
from shared.settings import settings

#: A queue failing more than this share of its finished jobs over 5 minutes is unhealthy ...
FAILURE_RATE_MAX = 0.5
#: ... once at least this many jobs finished in those 5 minutes.
FAILURE_RATE_MIN_JOBS = 10
#: How long one backend's TCP connect may take, in seconds.
CONNECT_TIMEOUT_S = 3.0
#: How long the kept result lives, in seconds (a stale one disappears by itself).
RESULT_TTL_S = 86_400

Status = Literal["healthy", "unhealthy"]


class BackendCheck(BaseModel):
    url: str  #: scheme, host and port only (no path, no credentials)
    reachable: bool
    latencyMs: float | None = None  #: the TCP connect, in milliseconds
    error: str | None = None


class FailureRate(BaseModel):
    finished: int  #: completed + failed in the last 5 minutes
    failed: int
    rate: float  #: failed / finished (0 when none finished)


class HealthCheck(BaseModel):
    status: Status
    checkedAt: str  #: ISO 8601 UTC
    reasons: list[str]
    health: HealthReport
    failureRates: dict[str, FailureRate]
    backends: dict[str, BackendCheck]


def health_key() -> str:
    """The hash holding the last result and the alert state (no queue's: not per tenant)."""
    return key("health", "check")


def backends() -> dict[str, str]:
    """The configured backends' base URLs, by name."""
    named = {
        "sms": settings.sms_api_url,
        "email": settings.email_api_url,
        "app": settings.app_api_url,
        "ai": settings.ai_api_url,
    }
    return {name: url for name, url in named.items() if url}


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    shown = f"{parts.scheme}://{host}:{port}" if host else url[:100]
    return shown, host, port


def reach(url: str) -> BackendCheck:
    """Whether ``url``'s host accepts a TCP connection within ``CONNECT_TIMEOUT_S``."""
    shown, host, port = _origin(url)
    if not host:
        return BackendCheck(url=shown, reachable=False, error="no host in the URL")
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        return BackendCheck(url=shown, reachable=False, error=f"{type(exc).__name__}: {exc}")
    latency = round((time.perf_counter() - started) * 1000, 2)
    return BackendCheck(url=shown, reachable=True, latencyMs=latency)


def failure_rates() -> dict[str, FailureRate]:
    """Each job queue's share of failed jobs among those finished in the last 5 minutes."""
    rates = {}
    for name, queue in collect().queues.items():
        finished = queue.last_5m.completed + queue.last_5m.failed
        rate = round(queue.last_5m.failed / finished, 3) if finished else 0.0
        rates[name] = FailureRate(finished=finished, failed=queue.last_5m.failed, rate=rate)
    return rates


def run() -> HealthCheck:
    """Check everything, keep the result in Redis (when it answers); the result."""
    report = check()
    reasons = list(report.reasons)
    rates: dict[str, FailureRate] = {}
    if report.accepting:
        try:
            rates = failure_rates()
        except redis.RedisError as exc:
            reasons.append(f"metrics unreadable: {type(exc).__name__}")
    for name, rate in rates.items():
        if rate.finished >= FAILURE_RATE_MIN_JOBS and rate.rate > FAILURE_RATE_MAX:
            reasons.append(f"{name}: {rate.failed} of {rate.finished} jobs failed in 5 minutes")
    targets = backends()
    with ThreadPoolExecutor(max_workers=max(len(targets), 1)) as pool:
        checked = dict(zip(targets, pool.map(reach, targets.values()), strict=True))
    reasons += [f"{name} backend unreachable" for name, c in checked.items() if not c.reachable]
    result = HealthCheck(
        status="unhealthy" if reasons or not report.healthy else "healthy",
        checkedAt=iso_ms(time.time_ns() // 1_000_000) or "",
        reasons=reasons,
        health=report,
        failureRates=rates,
        backends=checked,
    )
    try:
        client = get_redis()
        pipe = client.pipeline(transaction=True)
        pipe.hset(health_key(), "result", result.model_dump_json(exclude={"health": {"lastCheck"}}))
        pipe.expire(health_key(), RESULT_TTL_S)
        pipe.execute()
    except redis.RedisError:
        pass  # Redis is down: the result says so, and is returned (and logged) all the same
    return result


def last() -> dict[str, Any] | None:
    """The last result kept, or None (also when Redis cannot be read)."""
    try:
        raw = get_redis().hget(health_key(), "result")
    except redis.RedisError:
        return None
    return json.loads(raw) if raw else None
