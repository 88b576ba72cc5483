"""``bench.dashboard`` at a tiny size: it fills Redis as described, measures every row and
reports index memory (the real run is ``make bench ARGS="--only dashboard"``)."""

from __future__ import annotations

from pathlib import Path

from bench import dashboard
from bench.common import Config


def test_the_dashboard_benchmark_runs_end_to_end(tmp_path: Path):
    section = dashboard.run(Config(workdir=tmp_path, dashboard_n=3_000))
    metrics = [row.metric for row in section.rows]
    assert metrics[:3] == ["overview page", "queue page (sms, completed tab, first 25)",
                           "search by job id"]  # fmt: skip
    assert "search by workspace id, SCAN baseline" in metrics
    memory = next(r for r in section.rows if r.metric.startswith("search index memory"))
    assert memory.ours.endswith("MB") and float(memory.ours.split()[0].replace(",", "")) > 0
    timed = [r for r in section.rows if r.target]
    assert len(timed) == 6 and all(r.ours.endswith("ms") for r in timed)
