"""The job store writes Dramatiq messages straight into Dramatiq's Redis layout (``_lib.lua``
``enqueue_message``, the cron tick script): these tests fail when a Dramatiq release changes
that layout, so the pin in pyproject.toml is moved only together with the scripts."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.message import Message

from shared.jobs.broker import build_broker
from shared.jobs.queues import ready_key
from shared.jobs.store import JobStore, NewJob
from shared.redis_client import dramatiq_namespace


def test_dramatiq_enqueues_into_the_hash_and_list_the_job_store_writes(r: Any, redis_prefix: str):
    broker = build_broker()
    broker.declare_queue("layout")
    message = broker.enqueue(Message("layout", "act", (), {}, {}))
    redis_id = message.options["redis_message_id"]
    ns = dramatiq_namespace()
    assert r.type(f"{ns}:layout") == "list" and r.lrange(f"{ns}:layout", 0, -1) == [redis_id]
    assert r.type(f"{ns}:layout.msgs") == "hash"
    stored = Message.decode(r.hget(f"{ns}:layout.msgs", redis_id).encode())
    assert stored.message_id == message.message_id and stored.actor_name == "act"


def test_a_message_the_job_store_writes_is_fetched_and_decoded_by_dramatiqs_consumer(
    r: Any, redis_prefix: str, unlimited: None
):
    broker = build_broker()
    broker.declare_queue("sms")
    job = JobStore().create(NewJob("sms", "sms", {"m": 1}, due_ms=0, max_attempts=1)).job_id
    assert r.llen(ready_key("sms")) == 1
    consumer = broker.consume("sms", prefetch=1, timeout=100)
    proxy = next(m for m in consumer if m is not None)
    assert proxy.actor_name == "sms" and proxy.args == ([job],)
    assert proxy.options["redis_message_id"] == JobStore().get(job).message_id  # type: ignore[union-attr]
    consumer.ack(proxy)
    assert r.hlen(f"{dramatiq_namespace()}:sms.msgs") == 0, "acked as Dramatiq acks its own"


def test_dramatiq_is_the_minor_version_the_scripts_were_written_against():
    assert dramatiq.__version__.startswith("2.2."), "re-check _lib.lua against its broker"
