"""The wrapper every cron handler runs under: skips the tick of a paused schedule (and says
so), and records each run's start, duration, result or error (``shared.cron.state``).

It works the same in Lambda (EventBridge calls the handler) and under ``qs worker``. A Redis
outage never stops the function itself (``health-check`` must report exactly that): the pause
flag then counts as off and the record is only logged.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from shared.cron import state
from shared.redis_client import server_time_ms

log = logging.getLogger("qs.cron")

#: ``handler(event, context) -> result``, as EventBridge calls a function.
CronHandler = Callable[[Any, Any], Any]

_manual: contextvars.ContextVar[bool] = contextvars.ContextVar("qs_cron_manual", default=False)


@contextmanager
def manual_run() -> Iterator[None]:
    """Inside: runs were asked for by an operator (``POST /api/cron/{name}/run``), so they go
    ahead even when the schedule is paused."""
    token = _manual.set(True)
    try:
        yield
    finally:
        _manual.reset(token)


def _now_ms() -> int:
    try:
        return server_time_ms()
    except redis.RedisError:
        return time.time_ns() // 1_000_000


def _paused(name: str) -> bool:
    try:
        return state.is_paused(name)
    except redis.RedisError as exc:
        log.warning("cron %s: pause flag unreadable (%s); running", name, exc)
        return False


def _record(name: str, **fields: Any) -> None:
    try:
        state.record(name, **fields)
    except redis.RedisError as exc:
        log.warning("cron %s: could not record the run (%s): %s", name, exc, fields)


def cron_function(name: str) -> Callable[[CronHandler], CronHandler]:
    """Wrap the handler of the cron function ``name`` (its name in ``serverless.yml``)."""

    def wrap(fn: CronHandler) -> CronHandler:
        @functools.wraps(fn)
        def handler(event: Any, context: Any = None) -> Any:
            started_ms, clock = _now_ms(), time.monotonic()
            tick = event.get("time") if isinstance(event, dict) else None
            if not _manual.get() and _paused(name):
                log.info("cron %s is paused: tick %s skipped", name, tick)
                result = {"skipped": "paused", "scheduledAt": tick}
                _record(name, started_ms=started_ms, duration_ms=0, status="skipped",
                        result=result)  # fmt: skip
                return result
            try:
                result = fn(event, context)
            except Exception as exc:
                elapsed = round((time.monotonic() - clock) * 1000)
                _record(name, started_ms=started_ms, duration_ms=elapsed, status="error",
                        error=f"{type(exc).__name__}: {exc}")  # fmt: skip
                raise
            elapsed = round((time.monotonic() - clock) * 1000)
            _record(name, started_ms=started_ms, duration_ms=elapsed, status="ok", result=result)
            return result

        return handler

    return wrap
