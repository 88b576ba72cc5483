"""Liveness of workers and schedulers: each process beats into a Redis sorted set by role,
scored by Redis' own clock (``TIME``, epoch ms), so hosts with skewed clocks agree."""

from __future__ import annotations

import logging
import os
import socket
import threading

from shared.redis_client import get_redis, key, script
from shared.settings import settings

log = logging.getLogger("qs.liveness")


def process_id() -> str:
    """``host:pid`` of this process, the member name it beats under."""
    return f"{socket.gethostname()}:{os.getpid()}"


#: KEYS[1] the role's set; ARGV: member, forget_after_ms. Beats at Redis' clock and forgets
#: members silent for ``forget_after_ms``, so the set stays small without a sweeper.
_BEAT = """
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZADD", KEYS[1], now, ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - tonumber(ARGV[2]))
return now
"""
#: KEYS[1] the role's set; ARGV: ttl_ms. The members that beat within ``ttl_ms`` of Redis' now.
_ALIVE = """
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call("ZRANGEBYSCORE", KEYS[1], now - tonumber(ARGV[1]), "+inf")
"""


def ttl_ms() -> int:
    """``HEARTBEAT_TTL_S`` in milliseconds: a member silent for longer is not alive."""
    return int(settings.heartbeat_ttl_s * 1000)


def beat(role: str, member: str) -> None:
    """Record that ``member`` of ``role`` (``worker``/``scheduler``) is alive now."""
    script(_BEAT)(keys=[key("alive", role)], args=[member, 10 * ttl_ms()], client=get_redis())


def forget(role: str, member: str) -> None:
    """Remove ``member`` at clean shutdown, so health turns at once rather than after the TTL."""
    get_redis().zrem(key("alive", role), member)


def alive(role: str) -> list[str]:
    """Members of ``role`` that beat within ``HEARTBEAT_TTL_S`` seconds."""
    members = script(_ALIVE)(keys=[key("alive", role)], args=[ttl_ms()], client=get_redis())
    return [str(m) for m in members]


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
