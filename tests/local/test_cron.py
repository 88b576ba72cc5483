"""Cron functions through periodiq actors: scheduler ticks, single firing, the Scheduled Event."""

from __future__ import annotations

import base64
from typing import Any

import dramatiq
import httpx
import pendulum
import pytest
from dramatiq.brokers.redis import RedisBroker
from periodiq import PeriodiqMiddleware

from local import cron
from local.gateway import build_app
from local.manifest import Manifest, ManifestError, load
from local.scheduler import CronScheduler, first_tick
from shared.jobs.queues import CRON_QUEUE, ready_key
from shared.settings import settings
from tests.conftest import wait_for
from tests.fixtures import handlers
from tests.servers import FakeApp, Receiver, serve


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
    from local.schedules import ScheduleError

    manifest_file = tmp_path / "serverless.yml"
    manifest_file.write_text(
        "service: s\nprovider: {name: aws}\nfunctions:\n  nightly:\n"
        "    handler: tests/fixtures/handlers.tick\n"
        "    events:\n      - schedule: rate(7 minutes)\n"
    )
    with pytest.raises(ScheduleError, match="nightly"):
        cron.cron_jobs(load(manifest_file))


ZONED = """service: s
provider: {name: aws}
functions:
  nightly:
    handler: tests/fixtures/handlers.tick
    events:
      - schedule:
          method: scheduler
          rate:
            - cron(30 2 * * ? *)
          timezone: Europe/Berlin
"""


def test_two_schedulers_fire_a_zoned_daily_job_once_on_each_daylight_saving_change(
    broker: RedisBroker, tmp_path: Any, r: Any
):
    manifest_file = tmp_path / "serverless.yml"
    manifest_file.write_text(ZONED)
    actors = cron.declare_actors(load(manifest_file))
    first, second = CronScheduler(actors), CronScheduler(actors)
    for day, expected in (
        ("2026-03-29", pendulum.datetime(2026, 3, 29, 1, 0, tz="UTC")),  # 02:30 skipped: 03:00
        ("2026-10-25", pendulum.datetime(2026, 10, 25, 0, 30, tz="UTC")),  # the first 02:30
    ):
        start = pendulum.parse(day)
        fired = [
            tick
            for tick in (start.add(minutes=m) for m in range(24 * 60))  # type: ignore[union-attr]
            for _ in first.fire(tick) + second.fire(tick)
        ]
        assert fired == [expected], day
        assert first.next_tick(start) == expected  # the scheduler's own walk lands there
    assert r.llen(ready_key(CRON_QUEUE)) == 2


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("{rate: ['cron(30 2 * * ? *)'], timezone: Europe/Berlin}", "needs 'method: scheduler'"),
        ("{method: scheduler, rate: ['cron(30 2 * * ? *)'], timezone: Mars/Olympus}", "unknown"),
        ("{method: cloud, rate: ['rate(1 minute)']}", "is not 'eventBus' or 'scheduler'"),
    ],
)
def test_a_schedule_timezone_is_refused_where_serverless_would_refuse_it(
    tmp_path: Any, schedule: str, message: str
):
    manifest_file = tmp_path / "serverless.yml"
    manifest_file.write_text(
        "service: s\nprovider: {name: aws}\nfunctions:\n  nightly:\n"
        f"    handler: tests/fixtures/handlers.tick\n    events:\n      - schedule: {schedule}\n"
    )
    with pytest.raises(ManifestError, match="nightly") as caught:
        load(manifest_file)
    assert message in str(caught.value)


def test_the_three_cron_functions_fire_on_their_ticks_and_show_in_get_api_cron(
    broker: RedisBroker, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
):
    """serverless.yml's own cron functions, as ``qs dev`` runs them: two schedulers, a worker,
    the gateway, a fake app and an alert receiver on 127.0.0.1."""
    app = FakeApp(answer={"messages": [
        {"id": "msg-1", "phoneNumber": "+1234567890", "message": "Hi", "contactId": "c",
         "workspaceId": "w"},
        {"id": "msg-2", "to": "a@example.com", "subject": "Hi", "html": "<p>Hi</p>",
         "contactId": "c", "workspaceId": "w"},
    ]})  # fmt: skip
    monkeypatch.setattr(settings, "alert_webhook_url", f"{receiver.url}/alerts")
    monkeypatch.setattr(settings, "dashboard_password", "pw")
    admin = {"authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
    # the top of this hour, when all three are due, is up to an hour old: a worker would skip
    # a tick older than 30 s as stale, so this test lifts that limit
    for middleware in broker.middleware:
        if isinstance(middleware, PeriodiqMiddleware):
            monkeypatch.setattr(middleware, "skip_delay", 7200)
    tick = pendulum.now("UTC").start_of("hour")
    functions = load()
    actors, entries = cron.declare_actors(functions), cron.schedule_entries(functions)
    first, second = CronScheduler(actors, entries), CronScheduler(actors, entries)
    names = {"health-check", "process-scheduled-messages", "retention"}
    assert {a.actor_name for a in actors} >= {f"cron.queue-services-dev-{n}-rule-1" for n in names}
    assert len(first.fire(tick)) == len(actors) and second.fire(tick) == []
    first.publish(tick)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    with serve(app.app()) as app.url, serve(build_app()) as url:
        monkeypatch.setattr(settings, "app_api_url", app.url)
        worker.start()
        try:
            api = httpx.Client(base_url=url, headers=admin)

            def listed() -> dict[str, Any]:
                return {s["name"]: s for s in api.get("/api/cron").json()["schedules"]}

            shown = wait_for(
                lambda: (s := listed()) and all(s[n]["runs"] for n in names) and s,
                20, "all three ran", detail=listed,
            )  # fmt: skip
            for name in names:
                assert shown[name]["lastStatus"] == "ok", shown[name]
                assert (
                    shown[name]["lastResult"]["scheduledAt"]
                    == tick.format("YYYY-MM-DDTHH:mm:ss") + "Z"
                )
                assert shown[name]["nextRun"] > tick.format("YYYY-MM-DDTHH:mm:ss")
            assert shown["process-scheduled-messages"]["lastResult"]["queued"] == 2
            assert app.requests[0].path == settings.scheduled_messages_endpoint
            assert shown["retention"]["lastResult"]["total"] == 0
            assert shown["health-check"]["lastResult"]["alert"] == "sent"  # nothing else runs
            assert receiver.to("/alerts")[0].json()["type"] == "health.unhealthy"

            # paused, its ticks are skipped; an operator's run goes ahead all the same
            api.post("/api/cron/retention/pause").raise_for_status()
            assert api.post("/api/cron/retention/run").status_code == 202
            wait_for(lambda: listed()["retention"]["runs"] == 2, 20, "the manual run")
            assert listed()["retention"]["lastStatus"] == "ok"
        finally:
            worker.stop()


def test_a_scheduler_with_cron_off_sends_no_tick_but_publishes_the_table(
    actors: list[Any], fixture_manifest: Manifest, r: Any
):
    """SCHEDULER_CRON=false (AWS: EventBridge invokes the cron functions): nothing is queued on
    the cron queue, yet GET /api/cron still gets the schedules with their next runs."""
    from shared.cron import registry

    tick = pendulum.datetime(2026, 11, 27, 12, 0, tz="UTC")  # both schedules are due
    entries = cron.schedule_entries(fixture_manifest)
    off = CronScheduler(actors, entries, send_ticks=False)
    assert off.fire(tick) == []
    assert r.llen(ready_key(CRON_QUEUE)) == 0
    off.publish(tick)
    published = {e.actor: e.next_run_ms for e in registry.entries()}
    assert set(published) == {a.actor_name for a in actors}
    assert all(published.values())
    # another scheduler with ticks on still claims and sends that tick
    assert sorted(CronScheduler(actors).fire(tick)) == sorted(a.actor_name for a in actors)
