"""The metrics panel: finished jobs and wait/run p95 per minute (last hour) and per hour (last
day), from the history buckets the job store's scripts write, drawn as SVG on the queue page."""

from __future__ import annotations

import re

from shared.dashboard.history import history, p95
from tests.dashboard.conftest import Dashboard


def test_p95_reads_the_histogram_bucket_of_the_95th_job():
    assert p95({}) is None
    assert p95({0: 1}) == 1.0
    assert p95({4: 94, 40: 6}) == 1024.0  # 2^(40/4): the 95th of 100 is in the slow bucket
    assert p95({4: 96, 40: 4}) == 2.0


def test_finished_jobs_land_in_the_minute_and_hour_buckets(dashboard: Dashboard):
    for _ in range(3):
        job_id = dashboard.job()
        job = dashboard.store.get(job_id)
        assert job
        started = dashboard.store.start(job_id, job.message_id, "w")
        assert not isinstance(started, str)
        assert dashboard.store.finish(started, "completed", result={"ok": True})
    dashboard.fail(dashboard.job())
    for span, n in (("hour", 60), ("day", 24)):
        points = history("sms", span)  # type: ignore[arg-type]
        assert len(points) == n
        last = points[-1]
        assert (last.completed, last.failed) == (3, 1), span
        assert last.wait_p95 is not None and last.run_p95 is not None
        assert sum(p.completed for p in points[:-1]) == 0
    page = dashboard.client().get("/admin/queues/queue/sms?range=day").text
    assert "Activity over the last day" in page
    lines = re.findall(r'<polyline points="([^"]+)" class="series series-(\w+)"', page)
    assert {name for _, name in lines} == {"completed", "failed", "wait", "run"}
    completed = next(points for points, name in lines if name == "completed").split()
    assert len(completed) == 24 and completed[-1].endswith(",0.0")  # the top: 3 of 3
    assert dashboard.client().get("/admin/queues/queue/sms?range=year").status_code == 404
