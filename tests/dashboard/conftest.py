"""The dashboard under test: the project's gateway over real HTTP on 127.0.0.1, a real Redis
(the shared fixtures), jobs made through the job store, and the credentials of an admin and a
read-only user."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from local.gateway import build_app
from shared.jobs.store import JobStore, NewJob
from shared.settings import settings
from tests.conftest import set_queue_limits
from tests.servers import serve

ADMIN = ("ops", "a-strong-dashboard-pw")
VIEWER = ("watcher", "read-only-password-1")


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@dataclass
class Dashboard:
    url: str
    store: JobStore

    def client(self, who: tuple[str, str] | None = ADMIN) -> httpx.Client:
        headers = basic(*who) if who else {}
        return httpx.Client(base_url=self.url, headers=headers)

    def job(self, queue: str = "sms", *, ws: str = "ws-1", ct: str = "ct-1", delay_ms: int = 0,
            data: dict[str, Any] | None = None, org: str = "acme") -> str:  # fmt: skip
        """A new job (ready, or delayed by ``delay_ms``); its id."""
        body = data if data is not None else {"phoneNumber": "+15550000", "message": "hello"}
        created = self.store.create(
            NewJob(queue=queue, actor=queue, data=body, due_ms=0, delay_ms=delay_ms,
                   max_attempts=3, workspace_id=ws, contact_id=ct, org=org)
        )  # fmt: skip
        return created.job_id

    def fail(self, job_id: str, error: str = "Traceback: boom") -> None:
        """Run ``job_id``'s attempt and fail it for good (as a worker would)."""
        job = self.store.get(job_id)
        assert job is not None and job.message_id, job
        started = self.store.start(job_id, job.message_id, "test-worker")
        assert not isinstance(started, str), started
        assert self.store.finish(started, "failed", error=error)


@pytest.fixture
def dashboard(redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dashboard]:
    monkeypatch.setattr(settings, "dashboard_username", ADMIN[0])
    monkeypatch.setattr(settings, "dashboard_password", ADMIN[1])
    monkeypatch.setattr(settings, "dashboard_readonly_users", f"{VIEWER[0]}:{VIEWER[1]}")
    monkeypatch.setattr(settings, "api_keys", "acme:dash-test-key")
    # no concurrency or rate limit: every ready job is on a message at once (`fail` starts it)
    off = {"concurrency": None, "limiter": None}
    set_queue_limits(monkeypatch, sms=off, email=off)
    with serve(build_app()) as url:
        yield Dashboard(url, JobStore())
