"""The cron scheduler process: sends each periodiq actor at its ticks, once per tick cluster-wide.

periodiq's own ``Scheduler`` reads the local time zone, sleeps on SIGALRM and cannot be stopped;
this loop keeps periodiq's cron specs and message convention (``scheduled_at`` option, skipped
by ``PeriodiqMiddleware`` when stale) but runs in UTC, stops on request, and claims every tick
in Redis (``SET NX``) so several scheduler processes fire each tick exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import pendulum
from pendulum import DateTime

from shared.broker import CRON_SKIP_AFTER_S
from shared.liveness import Heartbeat
from shared.redis_client import get_redis, key

log = logging.getLogger("qs.scheduler")

#: Role name under which scheduler processes beat.
SCHEDULER_ROLE = "scheduler"
#: How long a tick claim is kept, in seconds (far longer than any clock skew between schedulers).
CLAIM_TTL_S = 86_400


def claim_tick(actor_name: str, tick: DateTime) -> bool:
    """True for the one scheduler that claims ``actor_name`` at ``tick``; False for the others."""
    claim = key("cron", "tick", actor_name, tick.format("YYYY-MM-DDTHH:mm"))
    return bool(get_redis().set(claim, "1", nx=True, ex=CLAIM_TTL_S))


def first_tick(now: DateTime) -> DateTime:
    """This minute if it is young enough to run on time, else the next one."""
    minute = now.replace(second=0, microsecond=0)
    return minute if now.second < CRON_SKIP_AFTER_S // 2 else minute.add(minutes=1)


class CronScheduler:
    """Sends periodic actors (those with a ``periodic`` option) at their ticks."""

    def __init__(self, actors: Iterable[Any]) -> None:
        self.actors = [a for a in actors if "periodic" in a.options]
        self._stop = threading.Event()

    def fire(self, tick: DateTime) -> list[str]:
        """Send every actor due at ``tick`` whose tick this process claims; their names."""
        sent = []
        for actor in self.actors:
            if actor.options["periodic"].validate(tick) and claim_tick(actor.actor_name, tick):
                actor.send_with_options(scheduled_at=str(tick))
                sent.append(actor.actor_name)
                log.info("sent %s for tick %s", actor.actor_name, tick.to_iso8601_string())
        return sent

    def next_tick(self, after: DateTime) -> DateTime:
        return min(actor.options["periodic"].next_valid_date(after) for actor in self.actors)

    def run(self) -> None:
        """Loop until ``stop()``; beats as a scheduler while it runs."""
        if not self.actors:
            log.warning("no scheduled function in serverless.yml; the scheduler only beats")
        heartbeat = Heartbeat(SCHEDULER_ROLE).start()
        try:
            tick = first_tick(pendulum.now("UTC"))
            while not self._stop.is_set():
                wait_s = (tick - pendulum.now("UTC")).total_seconds()
                if wait_s > 0 and self._stop.wait(wait_s):
                    break
                try:
                    self.fire(tick)
                except Exception:
                    log.exception("could not send the actors due at %s", tick)
                if not self.actors:
                    self._stop.wait()
                    break
                tick = self.next_tick(tick)
        finally:
            heartbeat.stop()

    def stop(self) -> None:
        self._stop.set()
