"""The naive baseline: a plain Dramatiq actor that POSTs each SMS with a pooled sync httpx client.

Workers run it with Dramatiq's own CLI (``python -m dramatiq bench.dramatiq_baseline -p 1 -t 16``),
configured by ``BENCH_REDIS_URL``, ``BENCH_NAMESPACE`` and ``BENCH_RECEIVER_URL``. Delays use
Dramatiq's delay queue (``send_with_options(delay=...)``), the trap DESIGN.md describes.
The benchmark process calls :func:`declare` to get an actor bound to its own broker.
httpx's per-request INFO log is silenced, as our workers run at ``LOG_LEVEL=WARNING``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import dramatiq
import httpx
from dramatiq.brokers.redis import RedisBroker

#: Name of the baseline's queue and actor.
ACTOR_NAME = "baseline_sms"

_client: httpx.Client | None = None
logging.getLogger("httpx").setLevel(logging.WARNING)


#: Key namespace of the baseline's broker.
NAMESPACE = "qsbench-baseline"


def _http() -> httpx.Client:
    global _client
    if _client is None:  # created in the worker process, after Dramatiq forked it
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        _client = httpx.Client(limits=limits, timeout=30.0)
    return _client


def declare(redis_url: str, namespace: str, receiver_url: str) -> dramatiq.Actor[Any, Any]:
    """A broker on ``redis_url`` (made the global one) and the baseline actor bound to it."""
    broker = RedisBroker(url=redis_url, namespace=namespace)
    dramatiq.set_broker(broker)
    url = receiver_url.rstrip("/") + "/send-sms"

    def baseline_sms(data: dict[str, Any]) -> None:
        response = _http().post(url, json=data)
        response.raise_for_status()

    decorate = dramatiq.actor(actor_name=ACTOR_NAME, broker=broker, max_retries=0)
    return decorate(baseline_sms)


if os.environ.get("BENCH_REDIS_URL"):  # loaded by the Dramatiq CLI or the naive API
    actor = declare(
        os.environ["BENCH_REDIS_URL"],
        os.environ.get("BENCH_NAMESPACE", "qsbench-baseline"),
        os.environ.get("BENCH_RECEIVER_URL", "http://127.0.0.1:4000"),
    )


def prepare(redis_url: str, receiver_url: str) -> tuple[dict[str, str], dramatiq.Actor[Any, Any]]:
    """The baseline workers' environment, and the actor to send to (declared here too)."""
    from bench.common import service_env

    env = service_env(
        redis_url,
        receiver_url,
        BENCH_REDIS_URL=redis_url,
        BENCH_NAMESPACE=NAMESPACE,
        BENCH_RECEIVER_URL=receiver_url,
    )
    return env, declare(redis_url, NAMESPACE, receiver_url)
