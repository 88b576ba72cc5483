"""The cron admin API over HTTP: list, run now, pause and resume, and seed 002's
``POST /api/bullmq/initialize``; admin credentials (or SERVICE_TOKEN for initialize) only."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import pytest

from functions.cron import retention
from local.scheduler import CronScheduler
from shared.cron import registry
from shared.jobs.keys import queue_key
from shared.jobs.queues import CRON_QUEUE
from shared.settings import settings
from tests.conftest import load_event

EVENT = load_event("scheduled_health_check")
CRON_FUNCTIONS = {"health-check", "process-scheduled-messages", "retention"}


def schedules(gateway: httpx.Client, admin: dict[str, str]) -> dict[str, dict]:
    response = gateway.get("/api/cron", headers=admin)
    assert response.status_code == 200, response.text
    return {s["name"]: s for s in response.json()["schedules"]}


def test_every_schedule_is_listed_with_its_expression_timezone_and_next_run(
    gateway: httpx.Client, admin: dict[str, str], scheduler: CronScheduler
):
    listed = schedules(gateway, admin)
    assert set(listed) == CRON_FUNCTIONS
    assert gateway.get("/api/cron", headers=admin).json()["publishedAt"].endswith("Z")
    health = listed["health-check"]
    assert health["expression"] == "rate(5 minutes)" and health["timezone"] == "UTC"
    next_run = datetime.fromisoformat(health["nextRun"].replace("Z", "+00:00"))
    assert next_run.minute % 5 == 0 and next_run.second == 0
    assert health["schedules"][0]["cron"] == "*/5 * * * *"
    assert listed["retention"]["expression"] == "rate(1 hour)"
    assert health["lastRun"] is None and health["lastResult"] is None and not health["paused"]


def test_the_admin_routes_refuse_anyone_but_the_admin(
    gateway: httpx.Client, admin: dict[str, str], api_key: str, scheduler: CronScheduler
):
    bearer = {"authorization": f"Bearer {api_key}"}
    for method, path in [("GET", "/api/cron"), ("POST", "/api/cron/retention/run"),
                         ("POST", "/api/cron/retention/pause"),
                         ("POST", "/api/cron/retention/resume")]:  # fmt: skip
        assert gateway.request(method, path).status_code == 401
        assert gateway.request(method, path, headers=bearer).status_code == 401
    assert not schedules(gateway, admin)["retention"]["paused"]


def test_a_paused_schedule_skips_its_ticks_and_says_so_until_resumed(
    gateway: httpx.Client, admin: dict[str, str], scheduler: CronScheduler
):
    paused = gateway.post("/api/cron/retention/pause", headers=admin)
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert retention.handler(EVENT, None) == {"skipped": "paused", "scheduledAt": EVENT["time"]}
    shown = schedules(gateway, admin)["retention"]
    assert shown["paused"] and shown["lastStatus"] == "skipped" and shown["runs"] == 1
    assert shown["lastResult"]["skipped"] == "paused" and shown["lastRun"] is not None

    assert gateway.post("/api/cron/retention/resume", headers=admin).json()["paused"] is False
    assert retention.handler(EVENT, None)["total"] == 0
    shown = schedules(gateway, admin)["retention"]
    assert shown["lastStatus"] == "ok" and shown["runs"] == 2 and not shown["paused"]


def test_run_now_queues_a_manual_run_of_the_function(
    gateway: httpx.Client, admin: dict[str, str], scheduler: CronScheduler, r
):
    response = gateway.post("/api/cron/retention/run", headers=admin)
    assert response.status_code == 202, response.text
    queued = json.loads(r.hget(queue_key(CRON_QUEUE, "mq", "msgs"), response.json()["messageId"]))
    (entry,) = registry.by_name()["retention"]
    assert queued["actor_name"] == entry.actor and queued["options"]["qs_manual"] is True
    assert queued["options"]["scheduled_at"] == response.json()["scheduledAt"]


def test_an_unknown_cron_function_is_a_404_naming_the_known_ones(
    gateway: httpx.Client, admin: dict[str, str], scheduler: CronScheduler
):
    for action in ("run", "pause", "resume"):
        response = gateway.post(f"/api/cron/nightly/{action}", headers=admin)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert "retention" in response.json()["detail"]


def test_initialize_makes_sure_every_schedule_exists_idempotently(
    gateway: httpx.Client, admin: dict[str, str], scheduler: CronScheduler, api_key: str,
    monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    monkeypatch.setattr(settings, "service_token", "svc-token")
    service = {"authorization": "Bearer svc-token"}
    first = gateway.post("/api/bullmq/initialize", headers=service)
    assert first.status_code == 200, first.text
    assert first.json()["success"] is True and set(first.json()["created"]) == CRON_FUNCTIONS
    assert {s["name"] for s in first.json()["schedules"]} == CRON_FUNCTIONS
    again = gateway.post("/api/bullmq/initialize", headers=admin)
    assert again.status_code == 200 and again.json()["created"] == []
    bearer = {"authorization": f"Bearer {api_key}"}
    assert gateway.post("/api/bullmq/initialize", headers=bearer).status_code == 401
    assert gateway.post("/api/bullmq/initialize").status_code == 401


def test_initialize_before_any_scheduler_published_is_a_503(
    gateway: httpx.Client, admin: dict[str, str]
):
    assert gateway.get("/api/cron", headers=admin).json() == {
        "success": True,
        "publishedAt": None,
        "schedules": [],
    }
    response = gateway.post("/api/bullmq/initialize", headers=admin)
    assert response.status_code == 503 and "qs scheduler" in response.json()["detail"]
