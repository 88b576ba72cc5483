"""The Redis connections every module shares, the key naming scheme, and riding out outages.

Clients reconnect by themselves: each command is retried a few times with a short back-off on a
connection error or time-out (a restart, a failover), then the error reaches the caller. With
``REDIS_SENTINELS`` set, the primary is found through Redis Sentinel and followed to a new one
after a failover (a command that meets the demoted primary's ``READONLY`` reconnects). With
``REDIS_CLUSTER=true`` (or a ``redis+cluster://`` URL) the client is redis-py's
``RedisCluster``: every key of a queue carries the queue's hash tag, so each job-store script
runs on the one node that holds its queue, and MOVED redirects after a failover are followed.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError
from redis.retry import Retry
from redis.sentinel import Sentinel

from shared.redis_packing import fast_packing
from shared.settings import settings

log = logging.getLogger("qs.redis")

T = TypeVar("T")

#: Errors after which a command may succeed if tried again: Redis restarting, loading its AOF,
#: failing over (a demoted primary refuses writes), or a dropped connection.
TRANSIENT: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,  # a master died, its replica not promoted yet
)
#: Retries of one command inside the client (0.05, 0.1, 0.2 s apart): a blip passes unnoticed,
#: an outage reaches the caller within about half a second (a gateway answers 503 at once).
CLIENT_RETRIES = 3


def _options(*, decode: bool = True, retry: type[Any] = Retry) -> dict[str, Any]:
    """The client options every connection uses; ``retry``: the ``Retry`` class of the
    client's flavour (``redis.asyncio.retry.Retry`` for an asynchronous one)."""
    return dict(
        decode_responses=decode,
        socket_connect_timeout=2,
        socket_timeout=5,  #: seconds; longer than any blocking read the service makes
        socket_keepalive=True,
        health_check_interval=30,
        retry=retry(ExponentialBackoff(cap=0.2, base=0.05), CLIENT_RETRIES),
        retry_on_error=list(TRANSIENT),
    )


def sentinel_addresses(value: str) -> list[tuple[str, int]]:
    """``REDIS_SENTINELS`` (``host:port,host:port``) as address pairs."""
    addresses = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS entry {entry!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    return urlsplit(url).scheme.endswith("+cluster")


def _cluster_seed(url: str) -> str:
    """The plain ``redis://`` URL of a cluster's seed node (the ``+cluster`` and path gone)."""
    parts = urlsplit(url)
    return parts._replace(scheme=parts.scheme.replace("+cluster", ""), path="").geturl()


@functools.cache
def _client_for(
    url: str, sentinels: str, master: str, decode: bool = True, cluster: bool = False
) -> redis.Redis:
    options = _options(decode=decode)
    if cluster or is_cluster_url(url):
        options.pop("health_check_interval")
        client: Any = RedisCluster.from_url(_cluster_seed(url), **options)
        return client
    if not sentinels:
        return fast_packing(redis.Redis.from_url(url, **options))
    return fast_packing(_sentinel_master(Sentinel, url, sentinels, master, options))


def _sentinel_master(
    sentinel_class: type[Any], url: str, sentinels: str, master: str, options: dict[str, Any]
) -> Any:
    """A client of ``master`` found through the Sentinels ``sentinels``, with the database and
    credentials of ``url``; ``sentinel_class``: redis-py's ``Sentinel`` or its asyncio one."""
    parts = urlsplit(url)
    sentinel = sentinel_class(
        sentinel_addresses(sentinels),
        socket_connect_timeout=options["socket_connect_timeout"],
        socket_timeout=2,
        sentinel_kwargs={"socket_connect_timeout": 2, "socket_timeout": 2},
    )
    return sentinel.master_for(
        master,
        db=int(parts.path.strip("/") or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        **options,
    )


def get_redis(*, decode: bool = True) -> redis.Redis:
    """A pooled client for the configured Redis; cheap to call repeatedly. ``decode``: str
    responses (Dramatiq's broker wants bytes)."""
    return _client_for(
        settings.resolved_redis_url(),
        settings.redis_sentinels,
        settings.redis_sentinel_master,
        decode,
        settings.redis_cluster,
    )


def async_redis() -> Any:
    """A new asynchronous client (``redis.asyncio``) for the configured Redis, with the same
    options, retries and topology (one server, Sentinel or Cluster) as ``get_redis``; bound to
    the event loop that first uses it, so each loop makes its own."""
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio.cluster import RedisCluster as AsyncCluster
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.asyncio.sentinel import Sentinel as AsyncSentinel

    url = settings.resolved_redis_url()
    options = _options(retry=AsyncRetry)
    if settings.redis_cluster or is_cluster_url(url):
        options.pop("health_check_interval")
        return AsyncCluster.from_url(_cluster_seed(url), **options)
    if not settings.redis_sentinels:
        return fast_packing(AsyncRedis.from_url(url, **options))
    return fast_packing(
        _sentinel_master(
            AsyncSentinel, url, settings.redis_sentinels, settings.redis_sentinel_master, options
        )
    )


def until_answered(
    call: Callable[[], T], what: str, *, stop: Callable[[], bool] = lambda: False
) -> T:
    """``call()``, tried again with back-off (0.1 s doubling to 5 s) for as long as Redis is
    unreachable: an outcome a worker has is written once Redis is back, never dropped.
    ``stop()`` true ends the retries (the last error is raised)."""
    delay = 0.1
    while True:
        try:
            return call()
        except TRANSIENT as exc:
            if stop():
                raise
            log.warning("%s: Redis unavailable (%s); retrying in %.1f s", what, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


@functools.cache
def script(source: str) -> Any:
    """A Lua script to run by SHA on any of the service's clients (``script(keys=, args=,
    client=)``), loading itself on a server that has not seen it; built once per source."""
    return redis.Redis().register_script(source)  # this client only computes the SHA


def run_script(client: Any, script: Any, keys: list[str], *args: Any) -> Any:
    """``script`` on ``client`` by EVALSHA straight away (redis-py's ``Script`` wrapper costs
    more than the call), loaded first on a server that has not seen it (or restarted)."""
    try:
        return client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return script(keys=keys, args=list(args), client=client)


def server_time_ms(client: Any = None) -> int:
    """Redis' clock (``TIME``), epoch ms: the one clock every host agrees on."""
    seconds, micros = (client or get_redis()).time()
    return int(seconds) * 1000 + int(micros) // 1000


def key(*parts: str) -> str:
    """A Redis key under this deployment's prefix: ``key("workers")`` -> ``qs:workers``."""
    return ":".join((settings.redis_prefix, *parts))


def dramatiq_namespace() -> str:
    """The namespace Dramatiq's Redis broker keeps its keys under."""
    return key("dramatiq")
