"""The cron scheduler process: sends each periodiq actor at its ticks, once per tick cluster-wide.

periodiq's own ``Scheduler`` reads the local time zone, sleeps on SIGALRM and cannot be stopped;
this loop keeps periodiq's cron specs and message convention (``scheduled_at`` option, skipped
by ``PeriodiqMiddleware`` when stale) but runs in UTC, stops on request, and claims and
enqueues every tick in one atomic step in Redis, so several scheduler processes fire each tick
once, and a scheduler dying mid-tick cannot lose it (the tick is either claimed and queued, or
neither, and then another scheduler takes it). It also publishes the schedule table with each
schedule's next run to Redis, at start and after every tick, for ``GET /api/cron``.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any

import pendulum
from pendulum import DateTime

from shared.cron import registry
from shared.cron.enqueue import enqueue_claimed
from shared.cron.registry import ScheduleEntry
from shared.jobs.broker import CRON_SKIP_AFTER_S
from shared.jobs.keys import queue_key
from shared.jobs.liveness import Heartbeat
from shared.jobs.queues import CRON_QUEUE
from shared.redis_client import TRANSIENT, server_time_ms, until_answered

log = logging.getLogger("qs.scheduler")

#: Role name under which scheduler processes beat.
SCHEDULER_ROLE = "scheduler"


def tick_key(actor_name: str, tick: DateTime) -> str:
    """The claim of ``actor_name``'s ``tick`` (in the cron queue's slot): it names the tick's
    message once queued."""
    return queue_key(CRON_QUEUE, "tick", actor_name, tick.format("YYYY-MM-DDTHH:mm"))


def fire_tick(actor: Any, tick: DateTime) -> bool:
    """Claim ``actor``'s ``tick`` and queue its message, atomically; True for the one call (of
    every scheduler's) that did, False for the others. The message id is the same for every
    scheduler (derived from the tick), so a repeat can never queue a second copy."""
    claim = tick_key(actor.actor_name, tick)
    message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, claim))
    message = actor.message_with_options(scheduled_at=str(tick)).copy(
        message_id=message_id, options={"redis_message_id": message_id}
    )
    return enqueue_claimed(claim, message)


#: Longest sleep between two looks at the clock, in seconds.
RECHECK_S = 5.0


def now() -> DateTime:
    """Redis' clock (every scheduler agrees on it, whatever its host's clock says); this host's
    while Redis is unreachable."""
    try:
        return pendulum.from_timestamp(server_time_ms() / 1000, tz="UTC")
    except TRANSIENT:
        return pendulum.now("UTC")


def first_tick(now: DateTime) -> DateTime:
    """This minute if it is young enough to run on time, else the next one."""
    minute = now.replace(second=0, microsecond=0)
    return minute if now.second < CRON_SKIP_AFTER_S // 2 else minute.add(minutes=1)


class CronScheduler:
    """Sends periodic actors (those with a ``periodic`` option) at their ticks; with
    ``schedules``, publishes them with their next runs for ``GET /api/cron`` (at start and
    after every tick)."""

    def __init__(
        self,
        actors: Iterable[Any],
        schedules: Iterable[ScheduleEntry] = (),
        *,
        send_ticks: bool = True,
    ) -> None:
        self.actors = [a for a in actors if "periodic" in a.options]
        self.schedules = list(schedules)
        #: False (``SCHEDULER_CRON=false``): ticks are only published, never sent, because
        #: something else (EventBridge) invokes the cron functions
        self.send_ticks = send_ticks
        self._stop = threading.Event()

    def publish(self, after: DateTime) -> None:
        """Publish the schedules, each with its first tick after ``after``; a failure is only
        logged (the table is for display; the next tick publishes again)."""
        if not self.schedules:
            return
        specs = {a.actor_name: a.options["periodic"] for a in self.actors}
        entries = []
        for entry in self.schedules:
            spec = specs.get(entry.actor)
            next_ms = int(spec.next_valid_date(after).timestamp() * 1000) if spec else None
            entries.append(entry.model_copy(update={"next_run_ms": next_ms}))
        try:
            registry.publish(entries)
        except Exception:
            log.exception("could not publish the schedule table")

    def fire(self, tick: DateTime) -> list[str]:
        """Send every actor due at ``tick`` whose tick this process claims; their names (none
        with ``send_ticks`` off)."""
        if not self.send_ticks:
            return []
        sent = []
        for actor in self.actors:
            if actor.options["periodic"].validate(tick) and fire_tick(actor, tick):
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
            tick = first_tick(now())
            self.publish(tick.subtract(minutes=1))
            while not self._stop.is_set():
                wait_s = (tick - now()).total_seconds()
                if wait_s > 0 and self._stop.wait(min(wait_s, RECHECK_S)):
                    break
                if wait_s > RECHECK_S:
                    continue  # look at the (Redis) clock again: a long sleep drifts
                try:  # through a Redis outage, for as long as the tick is worth running
                    until_answered(
                        functools.partial(self.fire, tick),
                        f"firing the tick {tick}",
                        stop=functools.partial(self._give_up, tick),
                    )
                except Exception:
                    log.exception("could not send the actors due at %s", tick)
                if not self.actors:
                    self._stop.wait()
                    break
                self.publish(tick)
                tick = self.next_tick(tick)
        finally:
            heartbeat.stop()

    def _give_up(self, tick: DateTime) -> bool:
        """Stop retrying ``tick``: this scheduler is stopping, or the tick is too old to run
        (a worker skips a cron message older than ``CRON_SKIP_AFTER_S``)."""
        return self._stop.is_set() or (now() - tick).total_seconds() > CRON_SKIP_AFTER_S

    def stop(self) -> None:
        self._stop.set()
