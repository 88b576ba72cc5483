"""Shared fixtures: a real Redis (``REDIS_URL`` or embedded) under a per-test key prefix."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from redis.cluster import RedisCluster

from local.embedded_redis import EmbeddedRedis
from shared import redis_client
from shared.jobs.broker import build_broker
from shared.settings import QueueLimitsSetting, settings
from tests.cluster import LocalCluster, single_node_cluster
from tests.cluster import redis_cluster as start_redis_cluster
from tests.servers import Receiver, serve

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample AWS event from ``tests/events/``."""
    return json.loads((EVENTS / f"{name}.json").read_text())  # type: ignore[no-any-return]


def wait_for(
    condition: Callable[[], Any],
    timeout_s: float = 10.0,
    what: str = "condition",
    *,
    every_s: float = 0.01,
    detail: Callable[[], object] | None = None,
) -> Any:
    """Poll ``condition`` every ``every_s`` seconds until it returns something truthy
    (returned); fail after ``timeout_s`` seconds, with ``detail()`` in the message."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f": {detail()}" if detail else ""
            pytest.fail(f"{what} not met within {timeout_s} s{extra}")
        time.sleep(every_s)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-cluster",
        choices=["full", "single"],
        help="run the service on a local Redis Cluster: 3 masters + 3 replicas (full, the "
        "default), or one node holding every slot (single: Redis still refuses a #!lua "
        "script's access to another slot than its declared keys')",
    )


def on_cluster(config: pytest.Config) -> bool:
    """Whether this run puts the service on the local Redis Cluster (``--redis-cluster``)."""
    return config.getoption("--redis-cluster") is not None


@pytest.fixture(scope="session")
def redis_cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    """A local Redis Cluster, 3 masters + 3 replicas (``tests/cluster.py``; one node holding
    every slot with ``--redis-cluster=single``), started once per session by the first test
    that asks for it. Tests must not kill its nodes (the failover tests start their own)."""
    single = request.config.getoption("--redis-cluster") == "single"
    with single_node_cluster() if single else start_redis_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The session's cluster seed with ``--redis-cluster``; else ``REDIS_URL`` when set (tests
    only touch their own key prefix), else an embedded server."""
    if on_cluster(request.config):
        yield request.getfixturevalue("redis_cluster").seed_url
        return
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_prefix(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[str]:
    """Point settings at the test Redis (``REDIS_CLUSTER`` on with ``--redis-cluster``) under a
    unique prefix; delete that prefix's keys after (on every primary of a cluster)."""
    prefix = f"qstest-{uuid.uuid4().hex[:10]}"
    cluster = on_cluster(request.config)
    monkeypatch.setattr(settings, "redis_url", redis_url)
    monkeypatch.setattr(settings, "redis_prefix", prefix)
    if cluster:
        monkeypatch.setattr(settings, "redis_cluster", True)
    yield prefix
    if cluster:
        nodes = RedisCluster.from_url(redis_url)
        found = list(
            nodes.scan_iter(match=f"{prefix}:*", count=1000, target_nodes=RedisCluster.PRIMARIES)
        )
        if found:
            nodes.delete(*found)  # one DEL per slot
        nodes.close()
        return
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def r(redis_prefix: str) -> redis.Redis:
    """The service's own Redis client, bound to the test prefix."""
    return redis_client.get_redis()


def set_queue_limits(monkeypatch: pytest.MonkeyPatch, **queues: dict[str, Any]) -> None:
    """Override queue limits as ``QUEUE_LIMITS`` would: ``sms={"concurrency": None}``."""
    monkeypatch.setattr(
        settings, "queue_limits", {name: QueueLimitsSetting(**v) for name, v in queues.items()}
    )


@pytest.fixture
def unlimited(monkeypatch: pytest.MonkeyPatch) -> None:
    """SMS and email without the seed's rate and concurrency limits."""
    off = {"limiter": None, "concurrency": None}
    set_queue_limits(monkeypatch, sms=off, email=off)


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A valid API key, configured for the duration of the test."""
    key = "test-key-" + uuid.uuid4().hex
    monkeypatch.setattr(settings, "api_keys", f"acme:{key}")
    return key


@pytest.fixture
def broker(redis_prefix: str) -> Iterator[RedisBroker]:
    """The service's broker under the test prefix, as Dramatiq's global one."""
    previous = dramatiq.get_broker()
    broker = build_broker()
    dramatiq.set_broker(broker)
    yield broker
    broker.close()
    dramatiq.set_broker(previous)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Your backend: a real HTTP server on 127.0.0.1 recording every callback."""
    backend = Receiver()
    with serve(backend.app()) as url:
        backend.url = url
        yield backend
