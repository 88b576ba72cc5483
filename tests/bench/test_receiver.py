"""The bench's callback receiver, as a child process: records callbacks, answers them late
when told to."""

from __future__ import annotations

import http.client
import time
from pathlib import Path

from bench.common import Children, Receiver


def post(receiver: Receiver) -> tuple[int, float]:
    """(status, seconds) of one callback."""
    conn = http.client.HTTPConnection(receiver.host, receiver.port, timeout=10)
    started = time.monotonic()
    try:
        conn.request("POST", "/send-sms", body=b'{"jobId":"j1"}')
        return conn.getresponse().status, time.monotonic() - started
    finally:
        conn.close()


def test_a_delayed_receiver_records_at_arrival_and_answers_that_late(tmp_path: Path) -> None:
    notes: list[str] = []
    with Children(tmp_path, notes) as children:
        prompt, late = Receiver(children), Receiver(children, delay_ms=300)
        for receiver in (prompt, late):
            receiver.reset(ids=True)
        arrived = time.time()
        status, took_s = post(late)
        assert status == 200 and took_s >= 0.3
        times, ids = late.records()
        answered = arrived + took_s
        assert ids == ["j1"] and answered - times[0] >= 0.25, "recorded as it arrived"
        assert post(prompt)[0] == 200 and late.count() == 1 and prompt.count() == 1
    assert notes == []
