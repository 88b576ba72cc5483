"""The delivery service under test: gateway over HTTP, in-process workers and scheduler loop,
and a real callback receiver on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import dramatiq
import httpx
import pytest

from local.gateway import build_app
from shared.jobs.actors import declare_job_actors
from shared.jobs.broker import build_broker
from shared.jobs.due import DueJobs
from shared.jobs.store import JobStore
from shared.settings import settings
from tests.conftest import wait_for
from tests.servers import FakeOpenAI, Receiver, serve

#: Signing secret the service uses in these tests.
SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="


class Service:
    """The API over HTTP, plus the store for inspection."""

    def __init__(self, url: str, api_key: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"authorization": f"Bearer {api_key}"})
        self.store = JobStore()

    def schedule_sms(self, **body: Any) -> httpx.Response:
        return self.http.post("/api/schedule-sms", json=sms(**body))

    def status(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/job-status/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_state(self, job_id: str, state: str, timeout_s: float = 10) -> dict[str, Any]:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (s := self.status(job_id))["state"] == state and s,
            timeout_s,
            f"job {job_id} {state}",
        )


def sms(**overrides: Any) -> dict[str, Any]:
    """A seed-shaped SMS body."""
    body = {
        "phoneNumber": "+1234567890",
        "message": "This is a test SMS",
        "contactId": "123456",
        "workspaceId": "66338",
    }
    return body | overrides


@pytest.fixture
def service(
    redis_prefix: str, receiver: Receiver, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Service]:
    """Gateway + 4 worker threads + the due-jobs loop, calling back ``receiver``."""
    monkeypatch.setattr(settings, "sms_api_url", receiver.url)
    monkeypatch.setattr(settings, "email_api_url", receiver.url)
    monkeypatch.setattr(settings, "webhook_secret", SECRET)
    monkeypatch.setattr(settings, "failure_webhook_url", f"{receiver.url}/queue-webhook")
    monkeypatch.setattr(settings, "due_poll_interval_ms", 5)
    previous = dramatiq.get_broker()
    broker = build_broker()
    dramatiq.set_broker(broker)
    declare_job_actors()
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=20)
    worker.start()
    due = DueJobs()
    loop = threading.Thread(target=due.run, daemon=True)
    loop.start()
    try:
        with serve(build_app()) as url:
            yield Service(url, api_key)
    finally:
        due.stop()
        loop.join(timeout=5)
        worker.stop()
        broker.close()
        dramatiq.set_broker(previous)


@pytest.fixture
def openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible API on 127.0.0.1 as ``AI_API_URL`` (model ``fake-model`` at
    2.5 cents per 1,000 tokens)."""
    fake = FakeOpenAI()
    with serve(fake.app()) as url:
        fake.url = url
        monkeypatch.setattr(settings, "ai_api_url", url + "/v1")
        monkeypatch.setattr(settings, "ai_model", "fake-model")
        monkeypatch.setattr(settings, "ai_cost_per_1k_tokens", {"fake-model": 2.5})
        yield fake
