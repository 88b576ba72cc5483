"""Cron functions through periodiq actors: scheduler ticks, single firing, the Scheduled Event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pendulum
import pytest
from dramatiq.brokers.redis import RedisBroker

from local import cron
from local.manifest import Manifest
from local.scheduler import CronScheduler, first_tick
from shared.jobs.broker import build_broker
from shared.jobs.queues import CRON_QUEUE, ready_key
from shared.settings import settings
from tests.conftest import wait_for
from tests.fixtures import handlers


@pytest.fixture
def broker(redis_prefix: str) -> Iterator[RedisBroker]:
    previous = dramatiq.get_broker()
    broker = build_broker()
    dramatiq.set_broker(broker)
    yield broker
    broker.close()
    dramatiq.set_broker(previous)


@pytest.fixture
def actors(broker: RedisBroker, fixture_manifest: Manifest) -> list[Any]:
    return cron.declare_actors(fixture_manifest)


def test_each_schedule_expression_becomes_a_periodic_actor_on_the_cron_queue(actors: list[Any]):
    names = sorted(a.actor_name for a in actors)
    assert names == ["cron.fixture-test-tick-rule-1", "cron.fixture-test-tick-rule-2"]
    assert {a.queue_name for a in actors} == {CRON_QUEUE}
    weekday_noon = next(a for a in actors if a.actor_name.endswith("rule-2"))
    assert weekday_noon.options["periodic"].validate(pendulum.datetime(2026, 11, 27, 12, 0))  # Fri
    assert not weekday_noon.options["periodic"].validate(pendulum.datetime(2026, 11, 28, 12, 0))


def test_two_schedulers_fire_each_tick_once(actors: list[Any], r: Any):
    tick = pendulum.datetime(2026, 11, 27, 12, 0, tz="UTC")  # both schedules are due
    first, second = CronScheduler(actors), CronScheduler(actors)
    assert sorted(first.fire(tick)) == sorted(a.actor_name for a in actors)
    assert second.fire(tick) == []
    assert first.fire(tick) == []
    assert r.llen(ready_key(CRON_QUEUE)) == 2
    assert second.fire(tick.add(minutes=1)) == ["cron.fixture-test-tick-rule-1"]


def test_next_tick_is_the_earliest_due_schedule(actors: list[Any]):
    scheduler = CronScheduler(actors)
    at = pendulum.datetime(2026, 11, 27, 11, 58, 30, tz="UTC")
    assert scheduler.next_tick(at) == pendulum.datetime(2026, 11, 27, 11, 59, tz="UTC")


def test_first_tick_skips_a_minute_already_too_old_to_run_on_time():
    assert first_tick(pendulum.datetime(2026, 1, 1, 0, 0, 5, tz="UTC")).minute == 0
    assert first_tick(pendulum.datetime(2026, 1, 1, 0, 0, 50, tz="UTC")).minute == 1


def test_a_stale_tick_is_skipped_rather_than_run_late(broker: RedisBroker, actors: list[Any], r):
    handlers.CALLS.clear()
    daily = next(a for a in actors if a.actor_name.endswith("rule-1"))
    stale = pendulum.now("UTC").subtract(minutes=5)
    fresh = pendulum.now("UTC")
    daily.send_with_options(scheduled_at=str(stale))
    daily.send_with_options(scheduled_at=str(fresh))
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: handlers.CALLS)
        worker.join()  # both messages handled: the queue is drained
    finally:
        worker.stop()
    assert [e["time"] for e in handlers.CALLS] == [fresh.format("YYYY-MM-DDTHH:mm:ss") + "Z"]


def test_a_worker_runs_the_handler_with_the_scheduled_event_of_its_tick(
    broker: RedisBroker, actors: list[Any]
):
    handlers.CALLS.clear()
    tick = pendulum.now("UTC").replace(microsecond=0)  # recent: older than 30 s is skipped
    daily = next(a for a in actors if a.actor_name.endswith("rule-1"))
    daily.send_with_options(scheduled_at=str(tick))
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: handlers.CALLS)
    finally:
        worker.stop()
    event = handlers.CALLS[0]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["time"] == tick.format("YYYY-MM-DDTHH:mm:ss") + "Z"
    assert event["region"] == settings.aws_region and event["detail"] == {}
    assert event["resources"] == [
        f"arn:aws:events:{settings.aws_region}:{settings.aws_account_id}:rule/fixture-test-tick-rule-1"
    ]


def test_a_schedule_with_input_delivers_the_input_instead_of_the_event(fixture_manifest: Manifest):
    job = next(j for j in cron.cron_jobs(fixture_manifest) if j.rule_name.endswith("rule-2"))
    handlers.CALLS.clear()
    cron.run_cron_job(job, pendulum.datetime(2026, 11, 27, 12, 0, tz="UTC"))
    assert handlers.CALLS == [{"report": "daily"}]


def test_an_untranslatable_schedule_fails_naming_its_function(tmp_path: Any):
    from local.manifest import load
    from local.schedules import ScheduleError

    manifest_file = tmp_path / "serverless.yml"
    manifest_file.write_text(
        "service: s\nprovider: {name: aws}\nfunctions:\n  nightly:\n"
        "    handler: tests/fixtures/handlers.tick\n"
        "    events:\n      - schedule: rate(7 minutes)\n"
    )
    with pytest.raises(ScheduleError, match="nightly"):
        cron.cron_jobs(load(manifest_file))
