"""A worker whose clock runs 30 s ahead changes nothing: due times and back-offs, liveness and
recovery, and a rate limit shared with a worker on the true clock all hold (Redis' clock is
the only one that counts).

The skew is injected without touching the code under test: a ``sitecustomize`` module on the
worker's ``PYTHONPATH`` shifts ``time.time()`` and ``time.time_ns()`` (``faketime`` is not
installed here).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.faults.harness import (
    Arrival,
    FaultReceiver,
    Service,
    busiest_window,
    sms,
    wait_until,
)

SKEW_S = 30

SITECUSTOMIZE = f'''"""Runs this Python's wall clock {SKEW_S} s ahead (fault suite)."""
import time

_time, _time_ns = time.time, time.time_ns
time.time = lambda: _time() + {SKEW_S}
time.time_ns = lambda: _time_ns() + {SKEW_S * 1_000_000_000}
'''


def ahead(tmp_path: Path) -> dict[str, str]:
    """Environment for a process whose clock runs ``SKEW_S`` ahead."""
    folder = tmp_path / "clock-ahead"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {"PYTHONPATH": str(folder)}


@pytest.mark.timeout(90)
def test_a_worker_30_s_ahead_sends_nothing_early_or_late_and_is_not_declared_dead(
    service: Service, receiver: FaultReceiver, tmp_path: Path
):
    def plan(arrival: Arrival, seen: int) -> tuple[float, int]:
        contact = arrival.body.get("contactId") if isinstance(arrival.body, dict) else None
        if contact == "retried" and seen == 0:
            return 0.0, 503
        if contact == "slow":  # longer than HEARTBEAT_TTL_S (3 s)
            return 5.0, 200
        return 0.0, 200

    receiver.plan = plan
    api = service.gateway()
    service.scheduler()
    service.worker(threads=8, **ahead(tmp_path))

    due_in_5 = api.schedule(sms(1, contactId="due", delay=5000))
    accepted_at = time.monotonic()
    back_off = {"attempts": 3, "backoff": {"type": "fixed", "delay": 3000}}
    retried = api.schedule(sms(2, contactId="retried", options=back_off))
    slow = api.schedule(sms(3, contactId="slow"))
    api.wait_all([due_in_5, retried, slow], "completed", 25)

    arrivals = {i: [a.at for a in receiver.to() if a.webhook_id == i] for i in (due_in_5, retried)}
    (due_at,) = arrivals[due_in_5]
    assert 4.9 <= due_at - accepted_at <= 6.5, f"due in 5 s, sent after {due_at - accepted_at:.2f}"
    first, second = arrivals[retried]
    assert 2.3 <= second - first <= 4.5, f"3 s (±20 %) back-off took {second - first:.2f} s"
    assert receiver.ids()[slow] == 1, "the skewed worker's 5 s job was not handed to another"
    assert api.status(slow)["attempts"] == 1  # type: ignore[index]


@pytest.mark.timeout(90)
def test_a_worker_30_s_ahead_that_dies_is_recovered_within_the_heartbeat_ttl(
    service: Service, receiver: FaultReceiver, tmp_path: Path
):
    receiver.plan = lambda arrival, seen: ((60.0 if seen == 0 else 0.0), 200)
    api = service.gateway()
    service.scheduler()
    skewed = service.worker(threads=8, **ahead(tmp_path))
    job = api.schedule(sms(1))
    wait_until(lambda: receiver.to(), 10, "the callback in flight")

    skewed.kill()
    killed_at = time.monotonic()
    service.worker(threads=8)  # true clock
    api.wait_all([job], "completed", 20)
    redelivered_at = receiver.to()[-1].at
    # dead after HEARTBEAT_TTL_S (3 s), recovery every second, a start: well inside 8 s
    assert redelivered_at - killed_at < 8, f"recovered {redelivered_at - killed_at:.1f} s later"
    assert receiver.ids()[job] == 2


@pytest.mark.timeout(90)
def test_workers_30_s_apart_share_one_rate_limit_at_the_receiver(
    service: Service, receiver: FaultReceiver, tmp_path: Path
):
    limits = {"QUEUE_LIMITS": '{"sms": {"limiter": {"max": 10, "duration_ms": 1000}}}'}
    api = service.gateway(**limits)
    service.scheduler(**limits)
    service.worker(threads=5, **limits)
    service.worker(threads=5, **limits, **ahead(tmp_path))
    due = (datetime.now(UTC) + timedelta(seconds=2)).isoformat(timespec="milliseconds")
    ids = api.schedule_bulk([sms(n, sendAt=due) for n in range(60)])
    wait_until(lambda: len(receiver.to()) >= 60, 20, "60 callbacks", every_s=0.2)

    times = [a.at for a in receiver.to()]
    busiest = busiest_window(times, 1.0)
    workers = {service.job(i).get("worker", "").rsplit(":", 1)[-1] for i in ids}
    print(f"skewed + true-clock workers at 10/s: busiest 1 s window {busiest}, pids {workers}")
    assert busiest <= 10, f"{busiest} callbacks within one second at a limit of 10/s"
    assert receiver.ids() == {i: 1 for i in ids}
