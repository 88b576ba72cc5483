"""``GET /api/metrics`` and ``GET /metrics`` after real deliveries."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.settings import settings
from tests.conftest import wait_for
from tests.functions.conftest import Service
from tests.servers import Receiver

#: What a Prometheus scraper sends.
SCRAPER = {"authorization": "Bearer metrics-token-for-tests"}


@pytest.fixture(autouse=True)
def metrics_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "metrics_token", SCRAPER["authorization"].split()[1])


def test_metrics_count_states_recent_events_and_timings(service: Service, receiver: Receiver):
    receiver.script["/send-sms"] = [(500, {}), (400, {})]
    fast = {"backoff": {"type": "fixed", "delay": 50}}
    ids = [service.schedule_sms(options=fast).json()["jobId"] for _ in range(4)]
    service.schedule_sms(delay=3_600_000)

    def finished() -> list[str] | None:
        states = sorted(service.status(i)["state"] for i in ids)
        return states if set(states) <= {"completed", "failed"} else None

    assert wait_for(finished) == ["completed", "completed", "completed", "failed"]

    response = service.http.get("/api/metrics", headers=SCRAPER)
    assert response.status_code == 200
    sms = response.json()["queues"]["sms"]
    assert sms["paused"] is False
    assert sms["counts"] == {"delayed": 1, "waiting": 0, "active": 0, "completed": 3, "failed": 1}
    assert sms["last1m"] == {"started": 5, "completed": 3, "failed": 1, "retried": 1, "deferred": 0}
    assert sms["last5m"] == sms["last1m"]
    assert sms["throughputPerS"] == 0.05
    assert sms["runMs"]["p50"] >= 0 and sms["waitMs"]["p95"] >= sms["waitMs"]["p50"] >= 0

    text = service.http.get("/metrics", headers=SCRAPER)
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.text)
        for s in family.samples
    }
    assert samples[("qs_jobs", (("queue", "sms"), ("state", "completed")))] == 3
    key = ("qs_job_events", (("event", "retried"), ("queue", "sms"), ("window", "1m")))
    assert samples[key] == 1


def test_metrics_need_operator_credentials_not_an_api_key(service: Service):
    import httpx

    for path in ("/api/metrics", "/metrics"):
        assert httpx.get(service.http.base_url.join(path)).status_code == 401
        assert service.http.get(path).status_code == 403  # the service's API key
