"""The Redis connection every module shares, and the key naming scheme."""

from __future__ import annotations

import functools

import redis

from shared.settings import settings


@functools.cache
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )


def get_redis() -> redis.Redis:
    """A pooled client (str responses) for the configured Redis; cheap to call repeatedly."""
    return _client_for(settings.resolved_redis_url())


def key(*parts: str) -> str:
    """A Redis key under this deployment's prefix: ``key("workers")`` -> ``qs:workers``."""
    return ":".join((settings.redis_prefix, *parts))


def dramatiq_namespace() -> str:
    """The namespace Dramatiq's Redis broker keeps its keys under."""
    return key("dramatiq")
