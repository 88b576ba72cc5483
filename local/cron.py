"""Cron functions as periodiq actors: one Dramatiq actor per ``schedule`` of ``serverless.yml``.

The scheduler sends each actor at its ticks (``scheduled_at`` in the message options, as
periodiq does); a worker runs it by calling the function's ``handler(event, context)`` with an
EventBridge Scheduled Event for that tick.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dramatiq
import pendulum
from dramatiq.middleware import CurrentMessage

from local.context import LambdaContext
from local.events import scheduled_event
from local.manifest import Function, Manifest, Schedule
from local.schedules import UtcCronSpec, describe, in_zone, translate
from shared.cron.enqueue import MANUAL_OPTION
from shared.cron.registry import ScheduleEntry
from shared.cron.runner import manual_run
from shared.jobs.queues import CRON_QUEUE
from shared.settings import settings

log = logging.getLogger("qs.cron")


@dataclass(frozen=True)
class CronJob:
    """One schedule expression of one function, translated for periodiq."""

    function: Function
    schedule: Schedule
    expression: str
    spec: UtcCronSpec
    rule_name: str  #: the EventBridge rule name the event's ``resources`` ARN names

    @property
    def actor_name(self) -> str:
        return f"cron.{self.rule_name}"


def cron_jobs(manifest: Manifest) -> list[CronJob]:
    """Every enabled schedule, translated; an untranslatable one raises naming its function."""
    jobs = []
    for fn in manifest.functions.values():
        # Rules are numbered per function across its schedule events, as the Framework names them.
        number = 0
        for schedule in fn.schedules:
            for expression in schedule.expressions:
                number += 1
                if not schedule.enabled:
                    continue
                rule = schedule.name or f"{manifest.lambda_name(fn.name)}-rule-{number}"
                if schedule.name and len(schedule.expressions) > 1:
                    rule = f"{schedule.name}-{number}"
                spec = in_zone(
                    translate(expression, function=fn.name), schedule.timezone, expression
                )
                jobs.append(CronJob(fn, schedule, expression, spec, rule))
    return jobs


def schedule_entries(manifest: Manifest) -> list[ScheduleEntry]:
    """Every enabled schedule as ``GET /api/cron`` lists it (next runs filled by the scheduler)."""
    return [
        ScheduleEntry(
            name=job.function.name,
            rule=job.rule_name,
            actor=job.actor_name,
            expression=job.expression,
            timezone=job.schedule.timezone,
            cron=describe(job.spec),
        )
        for job in cron_jobs(manifest)
    ]


def run_cron_job(job: CronJob, scheduled_at: datetime) -> Any:
    """Call the function's handler with the Scheduled Event of ``scheduled_at`` (UTC)."""
    event = scheduled_event(
        rule_name=job.rule_name,
        time=scheduled_at,
        region=settings.aws_region,
        account_id=settings.aws_account_id,
        input=job.schedule.input,
    )
    context = LambdaContext(
        job.function.name,
        timeout_s=job.function.timeout_s,
        region=settings.aws_region,
        account_id=settings.aws_account_id,
    )
    log.info("cron %s firing for %s", job.function.name, event.get("time", scheduled_at))
    return job.function.load()(event, context)


def declare_actors(manifest: Manifest) -> list[dramatiq.Actor[Any, Any]]:
    """One periodic actor per cron job, on the global broker (set by ``shared.jobs.broker``
    first)."""
    actors = []
    for job in cron_jobs(manifest):

        def fire(job: CronJob = job) -> None:
            message = CurrentMessage.get_current_message()
            options = message.options if message else {}
            when = options.get("scheduled_at")
            tick = pendulum.parse(when) if when else pendulum.now("UTC")
            with manual_run() if options.get(MANUAL_OPTION) else nullcontext():
                run_cron_job(job, tick.in_timezone("UTC"))  # type: ignore[union-attr]

        fire.__name__ = job.actor_name
        actors.append(
            dramatiq.actor(
                actor_name=job.actor_name,
                queue_name=CRON_QUEUE,
                max_retries=0,  # the next tick is the retry
                time_limit=job.function.timeout_s * 1000,
                periodic=job.spec,
            )(fire)
        )
    return actors
