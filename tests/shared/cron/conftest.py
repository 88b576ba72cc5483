"""Fixtures for the cron functions: the fake app they call, admin credentials."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pendulum
import pytest
from dramatiq.brokers.redis import RedisBroker

from local import cron, manifest
from local.gateway import build_app
from local.scheduler import CronScheduler
from shared.settings import settings
from tests.servers import FakeApp, serve

ADMIN_PASSWORD = "cron-admin-pw"


@pytest.fixture
def app_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApp]:
    """A fake app on 127.0.0.1 as ``APP_API_URL``."""
    fake = FakeApp()
    with serve(fake.app()) as url:
        fake.url = url
        monkeypatch.setattr(settings, "app_api_url", url)
        yield fake


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Headers with the dashboard admin's basic credentials."""
    monkeypatch.setattr(settings, "dashboard_password", ADMIN_PASSWORD)
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    return {"authorization": f"Basic {token}"}


@pytest.fixture
def gateway(redis_prefix: str) -> Iterator[httpx.Client]:
    """The API over HTTP (routes from ``serverless.yml``), on 127.0.0.1."""
    with serve(build_app()) as url, httpx.Client(base_url=url) as client:
        yield client


@pytest.fixture
def scheduler(broker: RedisBroker) -> CronScheduler:
    """A scheduler of ``serverless.yml``'s cron functions, its schedule table published."""
    functions = manifest.load()
    scheduler = CronScheduler(cron.declare_actors(functions), cron.schedule_entries(functions))
    scheduler.publish(pendulum.now("UTC"))
    return scheduler
