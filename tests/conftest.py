"""Shared fixtures: a real Redis (``REDIS_URL`` or embedded) under a per-test key prefix."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from local.embedded_redis import EmbeddedRedis
from shared import redis_client
from shared.settings import QueueLimitsSetting, settings
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


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``REDIS_URL`` when set (tests only touch their own key prefix), else an embedded server."""
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
def redis_prefix(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point settings at the test Redis under a unique prefix; delete that prefix's keys after."""
    prefix = f"qstest-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(settings, "redis_url", redis_url)
    monkeypatch.setattr(settings, "redis_prefix", prefix)
    yield prefix
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
def receiver() -> Iterator[Receiver]:
    """Your backend: a real HTTP server on 127.0.0.1 recording every callback."""
    backend = Receiver()
    with serve(backend.app()) as url:
        backend.url = url
        yield backend
