"""Liveness of workers and schedulers: each process beats into a Redis sorted set by role."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from shared.redis_client import get_redis, key
from shared.settings import settings

log = logging.getLogger("qs.liveness")


def process_id() -> str:
    """``host:pid`` of this process, the member name it beats under."""
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(role: str, member: str) -> None:
    """Record that ``member`` of ``role`` (``worker``/``scheduler``) is alive now."""
    now = time.time()
    pipe = get_redis().pipeline(transaction=False)
    pipe.zadd(key("alive", role), {member: now})
    # Forget members silent for ten TTLs, so the set stays small without a sweeper.
    pipe.zremrangebyscore(key("alive", role), "-inf", now - 10 * settings.heartbeat_ttl_s)
    pipe.execute()


def forget(role: str, member: str) -> None:
    """Remove ``member`` at clean shutdown, so health turns at once rather than after the TTL."""
    get_redis().zrem(key("alive", role), member)


def alive(role: str) -> list[str]:
    """Members of ``role`` that beat within ``HEARTBEAT_TTL_S`` seconds."""
    since = time.time() - settings.heartbeat_ttl_s
    return [str(m) for m in get_redis().zrangebyscore(key("alive", role), since, "+inf")]


class Heartbeat:
    """A daemon thread that beats every ``HEARTBEAT_INTERVAL_S`` seconds until ``stop()``."""

    def __init__(self, role: str, member: str | None = None) -> None:
        self.role = role
        self.member = member or process_id()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{role}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        try:
            forget(self.role, self.member)
        except Exception as exc:  # Redis may already be gone at shutdown
            log.warning("could not remove %s heartbeat: %s", self.role, exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                beat(self.role, self.member)
            except Exception as exc:
                log.warning("%s heartbeat failed: %s", self.role, exc)
            self._stop.wait(settings.heartbeat_interval_s)
