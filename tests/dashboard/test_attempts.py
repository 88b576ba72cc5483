"""Every attempt of a job is kept with its outcome, error and the calls it made (URL, status
code, latency, webhook-id), and shown on the job page: a callback answered 500 then 200."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.delivery.callbacks import callback_client
from shared.jobs.queues import QUEUES
from shared.jobs.runner import JobFailed, attempt
from shared.jobs.store import Job
from tests.dashboard.conftest import Dashboard
from tests.servers import Receiver, serve


@pytest.fixture
def backend() -> Iterator[Receiver]:
    receiver = Receiver(script={"/hook": [(500, {})]})
    with serve(receiver.app()) as url:
        receiver.url = url
        yield receiver


def run_once(d: Dashboard, job_id: str, url: str) -> str:
    """One attempt of ``job_id`` through the runner's own ``attempt``, posting to ``url``."""

    def process(job: Job) -> dict[str, bool]:
        outcome = callback_client().post(url + "?token=secret", {"jobId": job.id},
                                         message_id=job.id)  # fmt: skip
        if not outcome.ok:
            raise JobFailed(outcome.error or "failed", retryable=True)
        return {"sent": True}

    job = d.store.get(job_id)
    assert job and job.message_id
    started = d.store.start(job_id, job.message_id, "w")
    assert not isinstance(started, str)
    finish = attempt(QUEUES["sms"], process, started)
    assert d.store.finish_many([finish]) == 1
    return finish.outcome


def test_each_attempt_keeps_its_error_and_its_calls(dashboard: Dashboard, backend: Receiver):
    job_id = dashboard.job()
    assert run_once(dashboard, job_id, backend.url + "/hook") == "delayed"
    assert dashboard.store.reschedule(job_id, delay_ms=0) == "waiting"
    assert run_once(dashboard, job_id, backend.url + "/hook") == "completed"
    assert [c.headers["webhook-id"] for c in backend.to("/hook")] == [job_id, job_id]

    page = dashboard.client().get(f"/admin/queues/job/{job_id}").text
    assert page.count(f"webhook-id: {job_id}") == 2
    assert f"POST {backend.url}/hook</code>" in page and "token=secret" not in page
    assert "retry scheduled" in page and "completed" in page
    assert '<strong class="bad">500</strong>' in page and '<strong class="">200</strong>' in page
    raw = dashboard.store.client.hget(dashboard.store.qkey("sms", "job", job_id), "history")
    assert raw and '"n":1' in raw and '"n":2' in raw and '"ms":' in raw
