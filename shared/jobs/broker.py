"""The Dramatiq broker and its middleware stack.

Import this module (or call ``get_broker()``) before declaring any actor: Dramatiq binds an
actor to whichever broker is global when the actor is declared.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.message import Message
from dramatiq.middleware import CurrentMessage, default_middleware
from periodiq import PeriodiqMiddleware

from shared.jobs.heartbeat import WorkerHeartbeat
from shared.jobs.keys import queue_key
from shared.jobs.stopping import STOPPING
from shared.redis_client import TRANSIENT, dramatiq_namespace, get_redis, script

log = logging.getLogger("qs.broker")

#: Seconds a consumer waits before looking again when Redis is unavailable.
UNAVAILABLE_RETRY_S = 0.2

#: Cron messages older than this many seconds when a worker takes them are skipped, not run late.
CRON_SKIP_AFTER_S = 30


#: Take up to ARGV[1] messages: KEYS[1] the queue's list of message ids, KEYS[2] their bodies,
#: KEYS[3] when each was taken (TIME, µs). A message leaves the list as it is taken: its jobs
#: remember it, and if the worker holding it dies, recovery hands its jobs on once it has been
#: taken ``HEARTBEAT_TTL_S`` ago (recover.lua), while a message still in the list is waiting,
#: not lost.
_FETCH = """
local ids = redis.call("LPOP", KEYS[1], tonumber(ARGV[1]))
if not ids then return {} end
local bodies = redis.call("HMGET", KEYS[2], unpack(ids))
redis.call("HDEL", KEYS[2], unpack(ids))
local t = redis.call("TIME")
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, body in ipairs(bodies) do
  if body then
    out[#out + 1] = body
    redis.call("ZADD", KEYS[3], now_us, ids[i])
  end
end
return out
"""
#: Put messages (ARGV: id, body, id, body, ...) on the queue: KEYS[1] the list, KEYS[2] the
#: bodies, KEYS[3] the wake list, KEYS[4] the taken set; at the front when ARGV[1] is "front"
#: (handed back: no longer taken).
_PUT = """
local push = ARGV[1] == "front" and "LPUSH" or "RPUSH"
for i = 2, #ARGV, 2 do
  redis.call("HSET", KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call(push, KEYS[1], ARGV[i])
  redis.call("ZREM", KEYS[4], ARGV[i])
end
redis.call("RPUSH", KEYS[3], 1)
redis.call("LTRIM", KEYS[3], 0, 15)
return (#ARGV - 1) / 2
"""


def message_keys(queue: str) -> list[str]:
    """A queue's message list, message bodies and wake list (all in the queue's slot)."""
    return [queue_key(queue, "mq"), queue_key(queue, "mq", "msgs"), queue_key(queue, "wake")]


def taken_key(queue: str) -> str:
    """When each of the queue's messages was taken by a worker (zset, TIME µs)."""
    return queue_key(queue, "mq", "taken")


class QueueConsumer(_RedisConsumer):
    """Takes a queue's messages from its own keys, in its own hash slot (never a global key):
    a message is removed as it is taken, so there is nothing to acknowledge and no broker-wide
    heartbeat or maintenance; the job store's leases and recovery see to a worker that dies.
    An idle consumer waits on the queue's wake list (``BLPOP``, up to the idle timeout), where
    the job store pushes a token with each message, so an idle worker takes a new job within a
    round trip."""

    def __next__(self) -> MessageProxy | None:
        try:
            while True:
                if STOPPING.is_set():  # graceful stop: hand back what is held, fetch no more
                    self._hand_back_cache()
                    time.sleep(self.timeout / 1000)
                    return None
                if self.message_cache:
                    self.misses = 0
                    message = Message.decode(self.message_cache.pop(0))
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                room = self.prefetch - self.outstanding_message_count
                if room > 0:
                    keys = message_keys(self.queue_name)
                    fetched = script(_FETCH)(
                        keys=[*keys[:2], taken_key(self.queue_name)],
                        args=[room],
                        client=self.broker.client,
                    )
                    self.message_cache = [data for data in fetched if data]
                    if self.message_cache:
                        continue
                    self.broker.client.blpop([keys[2]], timeout=self.timeout / 1000)
                    return None
                # busy: every prefetch slot is taken; look again after a short back-off
                self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                time.sleep(backoff_ms / 1000)
                return None
        except TRANSIENT as exc:
            # Redis restarting, failing over, or a cluster between a master's death and its
            # replica's promotion: look again shortly (Dramatiq would restart the consumer
            # only after 3 s), so deliveries resume within a moment of Redis coming back
            log.warning("taking %s messages: Redis unavailable (%s)", self.queue_name, exc)
            time.sleep(UNAVAILABLE_RETRY_S)
            return None

    def ack(self, message: Any) -> None:
        self.queued_message_ids.discard(message.message_id)

    def nack(self, message: Any) -> None:  # its jobs' outcomes are in the job store already
        self.queued_message_ids.discard(message.message_id)

    def requeue(self, messages: Any) -> None:
        """Hand messages back to the front of the queue (a graceful stop)."""
        put(self.broker.client, self.queue_name, list(messages), front=True)

    def _hand_back_cache(self) -> None:
        """Requeue fetched messages no worker thread has seen yet."""
        cache, self.message_cache = self.message_cache, []
        if cache:
            put(self.broker.client, self.queue_name, [Message.decode(d) for d in cache], front=True)


def put(client: Any, queue: str, messages: list[Any], *, front: bool = False) -> None:
    """Put ``messages`` on ``queue`` (at the front: handed back) and wake a worker."""
    if not messages:
        return
    args: list[Any] = ["front" if front else "back"]
    for message in messages:
        redis_id = message.options.get("redis_message_id") or message.message_id
        args += [redis_id, message.encode()]
    script(_PUT)(keys=[*message_keys(queue), taken_key(queue)], args=args, client=client)


class ServiceBroker(RedisBroker):
    """The Redis broker with ``QueueConsumer`` and the same per-queue keys for ``enqueue``."""

    @property
    def consumer_class(self) -> Any:
        return QueueConsumer

    def declare_queue(self, queue_name: str) -> None:
        """Declare a queue, without Dramatiq's delay queue (``<name>.DQ``): delays are the job
        store's, and a delay queue's keys would lie outside its queue's hash slot."""
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues.add(queue_name)
            self.emit_after("declare_queue", queue_name)

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        """Put one message on its queue (``delay`` is refused: delayed jobs are the job
        store's, in its sorted set)."""
        if delay is not None:
            raise ValueError("delayed messages are the job store's: create a delayed job")
        message = message.copy(options={"redis_message_id": message.message_id})
        self.emit_before("enqueue", message, delay)
        put(self.client, message.queue_name, [message])
        self.emit_after("enqueue", message, delay)
        return message


def build_broker() -> RedisBroker:
    """A broker on the configured Redis (Sentinel included) with the service's middleware,
    under the key prefix."""
    middleware = [m() for m in default_middleware]
    middleware += [
        CurrentMessage(),
        PeriodiqMiddleware(skip_delay=CRON_SKIP_AFTER_S),
        WorkerHeartbeat(),
    ]
    return ServiceBroker(
        client=get_redis(decode=False), namespace=dramatiq_namespace(), middleware=middleware
    )


@functools.cache
def get_broker() -> RedisBroker:
    """The process-wide broker, also installed as Dramatiq's global broker."""
    broker = build_broker()
    dramatiq.set_broker(broker)
    return broker
