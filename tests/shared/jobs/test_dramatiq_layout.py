"""Workers read the job store's messages through Dramatiq's consumer interface, from the
queue's own keys (``jobs/broker.py``): the message the job store writes must be what Dramatiq
decodes, and Dramatiq's own ``enqueue`` must write the same layout. These tests fail when a
Dramatiq release changes its message format or consumer interface, so the pin in
pyproject.toml is moved only together with the scripts."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.message import Message

from shared.jobs.broker import build_broker, message_keys
from shared.jobs.store import JobStore, NewJob


def test_dramatiq_enqueue_writes_the_queues_own_keys(r: Any, redis_prefix: str):
    broker = build_broker()
    broker.declare_queue("layout")
    message = broker.enqueue(Message("layout", "act", (), {}, {}))
    ids, bodies, wake = message_keys("layout")
    assert r.lrange(ids, 0, -1) == [message.message_id] and r.llen(wake) == 1
    stored = Message.decode(r.hget(bodies, message.message_id).encode())
    assert stored.message_id == message.message_id and stored.actor_name == "act"
    assert all("{layout}" in key for key in (ids, bodies, wake)), "one hash slot per queue"


def test_a_message_the_job_store_writes_is_fetched_and_decoded_by_dramatiqs_consumer(
    r: Any, redis_prefix: str, unlimited: None
):
    broker = build_broker()
    broker.declare_queue("sms")
    job = JobStore().create(NewJob("sms", "sms", {"m": 1}, due_ms=0, max_attempts=1)).job_id
    consumer = broker.consume("sms", prefetch=1, timeout=100)
    proxy = next(m for m in consumer if m is not None)
    assert proxy.actor_name == "sms" and proxy.args == ([job],)
    assert proxy.options["redis_message_id"] == JobStore().get(job).message_id  # type: ignore[union-attr]
    ids, bodies, _ = message_keys("sms")
    assert r.llen(ids) == 0 and r.hlen(bodies) == 0, "a message leaves Redis as it is taken"
    consumer.requeue([proxy])
    assert r.lrange(ids, 0, -1) == [proxy.options["redis_message_id"]], "handed back"


def test_dramatiq_is_the_minor_version_the_scripts_were_written_against():
    assert dramatiq.__version__.startswith("2.2."), "re-check jobs/broker.py against it"
