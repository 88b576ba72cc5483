"""A worker stopped in the middle of callbacks: SIGTERM (a deploy) is exactly-once, SIGKILL (a
crash) redelivers with the same ``webhook-id``."""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.harness import Arrival, FaultReceiver, Service, sms, wait_until

#: sms limits for 20 callbacks in flight at once (the seed's rate, concurrency raised from 5).
TWENTY_AT_ONCE = '{"sms": {"concurrency": 20}}'


@pytest.mark.timeout(90)
def test_sigterm_with_20_callbacks_in_flight_delivers_each_once_and_completes_all(
    service: Service, receiver: FaultReceiver
):
    receiver.plan = lambda arrival, seen: (3.0, 200)  # the backend answers after 3 s
    api = service.gateway(QUEUE_LIMITS=TWENTY_AT_ONCE)
    service.scheduler(QUEUE_LIMITS=TWENTY_AT_ONCE)
    first = service.worker(threads=24, QUEUE_LIMITS=TWENTY_AT_ONCE)
    ids = api.schedule_bulk([sms(n) for n in range(20)])
    wait_until(lambda: len(receiver.to()) >= 20, 15, "20 callbacks in flight")

    first.send(signal.SIGTERM)
    service.worker(threads=24, QUEUE_LIMITS=TWENTY_AT_ONCE)  # would take anything handed back
    assert first.wait(timeout_s=30) == 0
    states = api.wait_all(ids, "completed", 20)

    # Recovery runs every second and declares a silent worker dead after 3 s: give a wrongly
    # recovered job the time to be sent again before counting.
    time.sleep(5)
    assert receiver.ids() == {i: 1 for i in ids}, "each webhook-id exactly once"
    assert set(states.values()) == {"completed"}
    assert {i: api.status(i)["attempts"] for i in ids} == {i: 1 for i in ids}  # type: ignore[index]
    assert receiver.to("/failures") == [], "no failure notice"


@pytest.mark.timeout(90)
def test_sigkill_mid_callback_redelivers_with_the_same_webhook_id_once_a_worker_runs(
    service: Service, receiver: FaultReceiver
):
    def first_hangs(arrival: Arrival, seen: int) -> tuple[float, int]:
        return (60.0 if seen == 0 else 0.0), 200

    receiver.plan = first_hangs
    api = service.gateway()
    service.scheduler()
    doomed = service.worker(threads=8)
    ids = [api.schedule(sms(n)) for n in range(5)]  # sms concurrency 5: all five in flight
    wait_until(lambda: len(receiver.to()) >= 5, 15, "5 callbacks in flight")

    doomed.kill()  # SIGKILL mid-callback
    killed_at = time.monotonic()
    service.worker(threads=8)
    states = api.wait_all(ids, "completed", 30)

    assert set(states.values()) == {"completed"}
    assert receiver.ids() == {i: 2 for i in ids}, "sent once more each, same webhook-id"
    redelivered = [a for a in receiver.to() if a.at > killed_at]
    assert sorted(a.webhook_id for a in redelivered) == sorted(ids)
    assert all(a.body["jobId"] == a.webhook_id for a in receiver.to())
    assert [api.status(i)["attempts"] for i in ids] == [2] * 5  # type: ignore[index]
