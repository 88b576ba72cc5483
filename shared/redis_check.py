"""Start-up check that Redis is configured to keep jobs: no eviction, and persistence on; on a
Redis Cluster, that every node answers and the cluster is whole.

A queue on an evicting Redis loses jobs silently under memory pressure, so production refuses
to start on one; a cluster with a node down (some queues' slots unreachable) is refused in
every mode; anything else that is risky is logged.
"""

from __future__ import annotations

import logging

import redis
from redis.cluster import RedisCluster

from shared.jobs.migrate import old_layout_present
from shared.redis_client import get_redis
from shared.settings import settings

log = logging.getLogger("qs.redis")


class UnsafeRedis(RuntimeError):
    """Redis would evict job data; see infra/redis.conf for the required settings."""


def _configuration(client: redis.Redis) -> tuple[str, bool, bool | None]:
    """(maxmemory-policy, AOF on, RDB snapshots on or None when unknown). From ``CONFIG GET``,
    or, where a managed service blocks ``CONFIG`` (ElastiCache), from ``INFO``, which reports
    the policy and AOF but not the snapshot schedule."""
    try:
        policy = str(client.config_get("maxmemory-policy").get("maxmemory-policy") or "")
        aof = client.config_get("appendonly").get("appendonly", "") == "yes"
        save = bool(client.config_get("save").get("save", ""))
        return policy, aof, save
    except redis.ResponseError:
        memory, persistence = client.info("memory"), client.info("persistence")
        return str(memory.get("maxmemory_policy", "")), bool(persistence.get("aof_enabled")), None


def redis_problems(client: redis.Redis) -> tuple[list[str], list[str]]:
    """(fatal, warnings) about ``client``'s server configuration."""
    try:
        policy, aof, save = _configuration(client)
    except redis.ResponseError:  # neither CONFIG nor INFO: nothing can be checked
        return [], ["cannot read the Redis configuration; make sure maxmemory-policy is noeviction"]
    fatal, warnings = [], []
    if policy != "noeviction":
        fatal.append(f"maxmemory-policy is {policy!r}: jobs may be evicted; set it to 'noeviction'")
    if not aof:
        warnings.append(
            "appendonly is off"
            + (" and RDB snapshots are off" if save is False else "")
            + ": jobs accepted since the last save are lost if Redis restarts; "
            "set appendonly yes, appendfsync everysec"
        )
    return fatal, warnings


def cluster_problems(client: RedisCluster) -> list[str]:
    """What keeps a Redis Cluster from serving every queue: nodes that do not answer, or a
    cluster state other than ok."""
    problems = []
    for node in client.get_nodes():
        try:
            client.get_redis_connection(node).ping()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            problems.append(
                f"Redis Cluster node {node.name} ({node.server_type}) unreachable: {exc}"
            )
    try:
        state = client.cluster_info().get("cluster_state")
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
        state = f"unknown ({exc})"
    if state != "ok":
        problems.append(f"Redis Cluster state is {state!r}, not 'ok'")
    return problems


def banner(command: str, fatal: list[str], *, refusing: bool) -> str:
    """The start-up warning about an evicting Redis: a framed block of lines, meant to be seen
    among the log lines of a process manager (journald, ``docker compose logs``)."""
    rule = "!" * 78
    lines = [
        rule,
        f"!! {command}: THIS REDIS CAN LOSE JOBS",
        *(f"!! {message}" for message in fatal),
        "!! fix: CONFIG SET maxmemory-policy noeviction (and in redis.conf: see infra/redis.conf)",
        "!! refusing to start (APP_ENV=production)"
        if refusing
        else "!! starting anyway because APP_ENV is not production; production refuses to start",
        rule,
    ]
    return "\n".join(lines)


def check_redis_at_startup(command: str = "qs") -> None:
    """Log what is risky; warn loudly (a framed block naming ``command``) on an evicting
    server, and in production raise ``UnsafeRedis`` then; on a cluster, raise ``UnsafeRedis``
    unless every node answers."""
    client = get_redis()
    if isinstance(client, RedisCluster):
        problems = cluster_problems(client)
        if problems:
            raise UnsafeRedis("; ".join(problems))
    try:
        fatal, warnings = redis_problems(client)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.error("redis unreachable at start-up (%s); health reports it until it is back", exc)
        return
    for message in warnings:
        log.warning("redis: %s", message)
    if fatal:
        log.error("\n%s", banner(command, fatal, refusing=settings.app_env == "production"))
    if old_layout_present(client):
        log.error(
            "redis holds job records in the pre-cluster key layout, which this version does not "
            "read: stop the old workers and run `qs migrate`"
        )
    if fatal and settings.app_env == "production":
        raise UnsafeRedis("; ".join(fatal))
