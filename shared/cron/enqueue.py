"""Queue a cron function's Dramatiq message, claimed, in one atomic step: what a scheduler does
at each tick (``local.scheduler.fire_tick``) and what ``POST /api/cron/{name}/run`` does now."""

from __future__ import annotations

import uuid
from typing import Any

import dramatiq
import pendulum

from shared.jobs.broker import message_keys
from shared.jobs.keys import queue_key
from shared.jobs.queues import CRON_QUEUE
from shared.redis_client import get_redis, script, server_time_ms

#: How long a claim is kept, in seconds (far longer than any clock skew between schedulers).
CLAIM_TTL_S = 86_400
#: Message option that marks an operator's run (it runs even when the schedule is paused).
MANUAL_OPTION = "qs_manual"

#: Claim a tick and queue its message as Dramatiq's Redis broker enqueues, in one step.
#: KEYS: the claim, the queue's message hash, its list of ids, its wake list.
#: ARGV: claim TTL (s), message id, message. Returns 1 if this call claimed the tick, else 0.
_FIRE = """
if not redis.call("SET", KEYS[1], ARGV[2], "NX", "EX", ARGV[1]) then return 0 end
redis.call("HSET", KEYS[2], ARGV[2], ARGV[3])
redis.call("RPUSH", KEYS[3], ARGV[2])
redis.call("RPUSH", KEYS[4], 1)
return 1
"""


def enqueue_claimed(claim: str, message: dramatiq.Message[Any]) -> bool:
    """Set ``claim`` (a key of the cron queue) and queue ``message``, or neither when the claim
    is taken; True for the call that queued it."""
    messages, bodies, wake = message_keys(message.queue_name)
    keys = [claim, bodies, messages, wake]
    args = [CLAIM_TTL_S, message.message_id, message.encode()]
    return bool(script(_FIRE)(keys=keys, args=args, client=get_redis()))


def enqueue_now(actor_name: str) -> tuple[str, str]:
    """Queue one run of the cron actor ``actor_name`` for now (Redis' clock), marked manual;
    (message id, the tick it carries, ISO 8601)."""
    message_id = str(uuid.uuid4())
    tick = pendulum.from_timestamp(server_time_ms() / 1000, tz="UTC").isoformat()
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=CRON_QUEUE,
        actor_name=actor_name,
        args=(),
        kwargs={},
        options={"scheduled_at": tick, MANUAL_OPTION: True, "redis_message_id": message_id},
        message_id=message_id,
    )
    enqueue_claimed(queue_key(CRON_QUEUE, "manual", message_id), message)
    return message_id, tick
