"""The Dramatiq broker and its middleware stack.

Import this module (or call ``get_broker()``) before declaring any actor: Dramatiq binds an
actor to whichever broker is global when the actor is declared.
"""

from __future__ import annotations

import functools

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, default_middleware
from periodiq import PeriodiqMiddleware

from shared.middleware.worker_heartbeat import WorkerHeartbeat
from shared.redis_client import dramatiq_namespace
from shared.settings import settings

#: Cron messages older than this many seconds when a worker takes them are skipped, not run late.
CRON_SKIP_AFTER_S = 30


def build_broker(url: str) -> RedisBroker:
    """A Redis broker on ``url`` with the service's middleware, under the key prefix."""
    middleware = [m() for m in default_middleware]
    middleware += [
        CurrentMessage(),
        PeriodiqMiddleware(skip_delay=CRON_SKIP_AFTER_S),
        WorkerHeartbeat(),
    ]
    return RedisBroker(url=url, namespace=dramatiq_namespace(), middleware=middleware)


@functools.cache
def get_broker() -> RedisBroker:
    """The process-wide broker, also installed as Dramatiq's global broker."""
    broker = build_broker(settings.resolved_redis_url())
    dramatiq.set_broker(broker)
    return broker
