"""The backend misbehaves: down (port closed) for 30 s then up, or accepting requests and never
answering. Back-offs carry jobs over the outage; time-outs free the worker."""

from __future__ import annotations

import time

import pytest

from tests.faults.harness import Arrival, FaultReceiver, Service, sleep_until, sms, wait_until

#: The queue's 5 attempts with an exponential back-off; the queue's base of 2 s gives waits of
#: 2+4+8+16 = 30 s, but each wait is scaled by a random factor in [0.8, 1.2] (callbacks'
#: ``backoff_ms`` jitter), so the 5th try could come at 24 s, inside a 30 s outage. A base of
#: 2.6 s puts it at 31-47 s, after the outage, while the 4th (at most 22 s) is inside it.
OUTLASTS_30_S = {"attempts": 5, "backoff": {"type": "exponential", "delay": 2600}}


@pytest.mark.timeout(120)
def test_receiver_down_for_30_s_gets_every_sms_after_back_off_and_none_fails(
    service: Service, receiver: FaultReceiver
):
    api = service.gateway()
    service.scheduler()
    service.worker(threads=8)
    receiver.down()
    down_at = time.monotonic()
    ids = api.schedule_bulk([sms(n, options=OUTLASTS_30_S) for n in range(10)])
    wait_until(
        lambda: all(api.status(i)["attempts"] >= 2 for i in ids),  # type: ignore[index]
        15, "every job tried and retried while the receiver is down", every_s=0.25,
    )  # fmt: skip

    sleep_until(down_at + 30)
    receiver.up()
    states = api.wait_all(ids, "completed", 30)

    assert set(states.values()) == {"completed"}, "none failed within its attempts"
    assert receiver.ids() == {i: 1 for i in ids}
    attempts = [api.status(i)["attempts"] for i in ids]  # type: ignore[index]
    assert attempts == [5] * 10, "four tries inside the outage, the fifth after it"
    assert receiver.to("/failures") == []


@pytest.mark.timeout(90)
def test_a_hanging_receiver_times_out_frees_the_worker_and_records_attempts(
    service: Service, receiver: FaultReceiver
):
    def plan(arrival: Arrival, seen: int) -> tuple[float, int]:
        contact = arrival.body.get("contactId", "") if isinstance(arrival.body, dict) else ""
        hangs = contact == "never-answers" or (contact.startswith("hang-") and seen == 0)
        return (300.0 if hangs else 0.0), 200  # accepts, then never answers in time

    receiver.plan = plan
    env = {"CALLBACK_TIMEOUT_S": "1"}
    api = service.gateway(**env)
    service.scheduler(**env)
    service.worker(threads=5, **env)  # sms concurrency 5: all five threads hang at first
    retry_fast = {"attempts": 3, "backoff": {"type": "fixed", "delay": 500}}
    hung_once = [api.schedule(sms(n, contactId=f"hang-{n}", options=retry_fast)) for n in range(5)]
    always = api.schedule(sms(9, contactId="never-answers", options=retry_fast))
    wait_until(lambda: len(receiver.to()) >= 5, 10, "5 callbacks hanging")
    hung_at = time.monotonic()
    quick = [api.schedule(sms(10 + n)) for n in range(5)]

    api.wait_all(quick + hung_once, "completed", 20)
    assert time.monotonic() - hung_at < 15, "the hanging callbacks held the worker"
    failed = api.wait_all([always], "failed", 20)[always]
    assert failed == "failed"

    assert [api.status(i)["attempts"] for i in hung_once] == [2] * 5  # type: ignore[index]
    assert [api.status(i)["attempts"] for i in quick] == [1] * 5  # type: ignore[index]
    gave_up = api.status(always)
    assert gave_up is not None and gave_up["attempts"] == 3
    assert (
        "timeout" in (gave_up["error"] or "").lower()
        or "timed out" in (gave_up["error"] or "").lower()
    ), gave_up["error"]
    assert receiver.ids()[always] == 3
    notices = wait_until(lambda: receiver.to("/failures"), 10, "the failure notice")
    assert [n.body["jobId"] for n in notices] == [always]
    assert notices[0].body["attempts"] == 3
