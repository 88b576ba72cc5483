"""The cron admin API: list every schedule with its state, run one now, pause and resume,
and seed 002's ``POST /api/bullmq/initialize``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from shared.cron import registry, state
from shared.cron.registry import ScheduleEntry
from shared.http import Problem
from shared.schemas import iso_ms


class Rule(BaseModel):
    """One schedule expression of a cron function."""

    rule: str
    expression: str
    timezone: str  #: IANA name; ``UTC`` when the schedule names none
    cron: str  #: the unix cron form it fires at
    nextRun: str | None  #: ISO 8601 UTC


class CronSchedule(BaseModel):
    """One cron function: its schedule (the earliest-due expression first) and its state."""

    name: str
    expression: str
    timezone: str
    nextRun: str | None
    paused: bool
    lastRun: str | None  #: when the last run (or skipped tick) started, ISO 8601 UTC
    lastStatus: Literal["ok", "error", "skipped"] | None
    lastResult: Any
    lastError: str | None  #: kept until a run succeeds
    lastDurationMs: int | None
    runs: int
    schedules: list[Rule]


class CronList(BaseModel):
    success: Literal[True] = True
    #: when a scheduler last published the schedules and their next runs (ISO 8601 UTC; null:
    #: never); older than a minute or so means no ``qs scheduler`` is running
    publishedAt: str | None
    schedules: list[CronSchedule]


class CronRun(BaseModel):
    success: Literal[True] = True
    name: str
    messageId: str  #: the queued Dramatiq message
    scheduledAt: str  #: the tick it carries (now, Redis' clock)


class Initialized(BaseModel):
    success: Literal[True] = True
    message: str
    schedules: list[CronSchedule]
    created: list[str]  #: schedules given a state record by this call (empty on a repeat)


def _rules(entries: list[ScheduleEntry]) -> list[Rule]:
    rules = [
        Rule(
            rule=e.rule,
            expression=e.expression,
            timezone=e.timezone or "UTC",
            cron=e.cron,
            nextRun=iso_ms(e.next_run_ms),
        )
        for e in entries
    ]
    return sorted(rules, key=lambda r: (r.nextRun is None, r.nextRun or ""))


def _schedules(grouped: dict[str, list[ScheduleEntry]]) -> list[CronSchedule]:
    states = state.read(list(grouped))
    found = []
    for name, entries in grouped.items():
        rules, s = _rules(entries), states[name]
        found.append(
            CronSchedule(
                name=name,
                expression=rules[0].expression,
                timezone=rules[0].timezone,
                nextRun=rules[0].nextRun,
                paused=s.paused,
                lastRun=iso_ms(s.last_run_ms),
                lastStatus=s.last_status,
                lastResult=s.last_result,
                lastError=s.last_error,
                lastDurationMs=s.last_duration_ms,
                runs=s.runs,
                schedules=rules,
            )
        )
    return found


def _known(name: str) -> dict[str, list[ScheduleEntry]]:
    """``{name: its entries}``; 404 naming the known functions when ``name`` is not one."""
    grouped = registry.by_name()
    if name not in grouped:
        known = ", ".join(grouped) or "none published yet (is a `qs scheduler` running?)"
        raise Problem(404, f"No cron function {name!r}; the cron functions are: {known}.")
    return {name: grouped[name]}


def list_all() -> CronList:
    return CronList(
        publishedAt=iso_ms(registry.published_at_ms()), schedules=_schedules(registry.by_name())
    )


def run_now(name: str) -> CronRun:
    """Queue one run of ``name`` for a worker, now; it runs even when paused."""
    from shared.cron.enqueue import enqueue_now  # Dramatiq + pendulum: only a run needs them

    entries = _known(name)[name]
    message_id, tick = enqueue_now(entries[0].actor)
    return CronRun(name=name, messageId=message_id, scheduledAt=tick)


def set_paused(name: str, paused: bool) -> CronSchedule:
    """Pause (its ticks are skipped, and recorded as such) or resume ``name``."""
    grouped = _known(name)
    state.set_paused(name, paused)
    return _schedules(grouped)[0]


def initialize() -> Initialized:
    """Make sure every published schedule has its state (idempotent; pauses stay as they are);
    503 while no scheduler has published the schedules of ``serverless.yml``."""
    grouped = registry.by_name()
    if not grouped:
        raise Problem(
            503,
            "No schedule is published yet: every `qs scheduler` publishes the schedules of "
            "serverless.yml when it starts. Start one and call again.",
            headers={"retry-after": "5"},
        )
    created = [name for name in grouped if state.ensure(name)]
    return Initialized(
        message="Scheduled jobs initialized", schedules=_schedules(grouped), created=created
    )
