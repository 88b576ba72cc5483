"""The Dramatiq broker and its middleware stack.

Import this module (or call ``get_broker()``) before declaring any actor: Dramatiq binds an
actor to whichever broker is global when the actor is declared.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from dramatiq.middleware import CurrentMessage, default_middleware
from periodiq import PeriodiqMiddleware

from shared.jobs.heartbeat import WorkerHeartbeat
from shared.jobs.stopping import STOPPING
from shared.redis_client import dramatiq_namespace, get_redis

#: Cron messages older than this many seconds when a worker takes them are skipped, not run late.
CRON_SKIP_AFTER_S = 30


class WakeableConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, but an idle one waits on the queue's wake list (``BLPOP``,
    up to the idle timeout) instead of sleeping: the job store pushes a token there with each
    message it enqueues, so an idle worker takes a new job within a round trip, not after up
    to a whole poll interval."""

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
                    fetched = self.broker.do_fetch(self.queue_name, room)
                    self.message_cache = [data for data in fetched if data]
                    if self.message_cache:
                        continue
                    wake = f"{self.broker.namespace}:{self.queue_name}.wake"
                    self.broker.client.blpop([wake], timeout=self.timeout / 1000)
                    return None
                # busy: every prefetch slot is taken; look again after a short back-off
                self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                time.sleep(backoff_ms / 1000)
                return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None

    def _hand_back_cache(self) -> None:
        """Requeue fetched messages no worker thread has seen yet."""
        if not self.message_cache:
            return
        ids = [Message.decode(data).options["redis_message_id"] for data in self.message_cache]
        self.message_cache = []
        self.broker.do_requeue(self.queue_name, *ids)


class ServiceBroker(RedisBroker):
    """The Redis broker with ``WakeableConsumer``."""

    @property
    def consumer_class(self) -> Any:
        return WakeableConsumer


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
