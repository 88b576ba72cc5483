"""A rate limit holds where the provider counts: at the receiver, on arrival times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.faults.harness import FaultReceiver, Service, busiest_window, sms, wait_until


@pytest.mark.timeout(90)
def test_500_sms_due_at_once_arrive_at_most_50_in_any_second_at_95_percent_of_the_rate(
    service: Service, receiver: FaultReceiver
):
    api = service.gateway()
    service.scheduler()
    service.worker(threads=8)  # the seed's sms limits: 50 per 1,000 ms, concurrency 5
    due = (datetime.now(UTC) + timedelta(seconds=2)).isoformat(timespec="milliseconds")
    ids = api.schedule_bulk([sms(n, sendAt=due) for n in range(500)])
    wait_until(
        lambda: len(receiver.to()) >= 500, 30, "500 callbacks", every_s=0.2,
        detail=lambda: f"{len(receiver.to())} arrived",
    )  # fmt: skip

    times = sorted(a.at for a in receiver.to())
    busiest = busiest_window(times, 1.0)
    rate = (len(times) - 1) / (times[-1] - times[0])
    gaps = sorted((times[k + 50] - times[k], k) for k in range(len(times) - 50))
    print("smallest k..k+50 gaps", [(round(g * 1000, 1), k) for g, k in gaps[:8]])
    print(f"500 SMS at 50/s: busiest 1 s window {busiest}, overall {rate:.1f}/s")
    assert busiest <= 50, f"{busiest} callbacks arrived within one second"
    assert rate >= 0.95 * 50, f"only {rate:.1f}/s"
    assert receiver.ids() == {i: 1 for i in ids}
