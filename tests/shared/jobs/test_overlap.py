"""A chunk's attempts side by side in one thread (``run_overlapped``), over real sockets."""

from __future__ import annotations

import ctypes
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dramatiq.middleware import TimeLimitExceeded

from shared.delivery.callbacks import CallbackClient, Outcome
from shared.delivery.transport import KeepAliveTransport
from shared.jobs import overlap
from shared.jobs.overlap import run_overlapped
from shared.settings import settings
from tests.servers import Receiver, self_signed_certificate, serve

CALLS = 12


@pytest.fixture
def gathering() -> Iterator[Receiver]:
    """A receiver that answers only once ``CALLS`` requests wait at once."""
    backend = Receiver(gather=CALLS)
    with serve(backend.app()) as url:
        backend.url = url
        yield backend


def posts(client: CallbackClient, url: str, n: int) -> list[Callable[[], Outcome]]:
    return [
        lambda i=i: client.post(f"{url}/hook", {"n": i}, message_id=f"msg_{i}") for i in range(n)
    ]


def test_results_come_back_in_order_and_a_raised_error_after_every_call_ends():
    assert run_overlapped([lambda i=i: i * i for i in range(5)]) == [0, 1, 4, 9, 16]
    ended: list[int] = []

    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_overlapped([fails, lambda: ended.append(1)])
    assert ended == [1]


def test_a_call_that_sleeps_lets_the_others_run_meanwhile():
    order: list[str] = []

    def waits_for_its_slot() -> None:
        overlap.sleep(0.05)
        order.append("slept")

    run_overlapped([waits_for_its_slot, lambda: order.append("ran")])
    assert order == ["ran", "slept"]
    overlap.sleep(0)  # outside run_overlapped: a plain sleep


def test_one_threads_callbacks_are_all_in_flight_at_once(gathering: Receiver):
    client = CallbackClient()
    outcomes = run_overlapped(posts(client, gathering.url, CALLS))
    assert [o.ok for o in outcomes] == [True] * CALLS
    assert gathering.most_in_flight == CALLS, "every request was sent before any answer"
    assert sorted(c.json()["n"] for c in gathering.calls) == list(range(CALLS))
    # the same pooled connections serve the next chunk (kept idle, not closed)
    gathering.calls.clear()
    assert all(o.ok for o in run_overlapped(posts(client, gathering.url, CALLS)))
    assert len({c.headers["webhook-id"] for c in gathering.calls}) == CALLS
    client.close()


def test_callbacks_over_tls_run_side_by_side(tmp_path: Path):
    key, cert = self_signed_certificate(tmp_path, "localhost")
    backend = Receiver(gather=4)
    with serve(backend.app(), tls=(key, cert)) as url:
        port = int(url.rsplit(":", 1)[1])
        client = CallbackClient()
        trusted = KeepAliveTransport(ssl_context=ssl.create_default_context(cafile=str(cert)))
        client._transport = trusted
        outcomes = run_overlapped(posts(client, f"https://localhost:{port}", 4))
        assert [o.ok for o in outcomes] == [True] * 4
        assert backend.most_in_flight == 4
        client.close()


def test_an_answer_that_never_comes_times_out_alone(receiver: Receiver, monkeypatch):
    monkeypatch.setattr(settings, "callback_timeout_s", 0.5)
    receiver.hang["/slow"] = 1
    client = CallbackClient()
    slow = [lambda: client.post(f"{receiver.url}/slow", {}, message_id="msg_slow")]
    outcomes = run_overlapped(slow + posts(client, receiver.url, 4))
    assert not outcomes[0].ok and outcomes[0].retryable
    assert "read timed out" in (outcomes[0].error or "")
    assert [o.ok for o in outcomes[1:]] == [True] * 4
    client.close()


def test_a_time_limit_raised_while_the_loop_waits_reaches_every_waiting_call(
    receiver: Receiver, monkeypatch
):
    """Dramatiq's time limit raises in the worker thread, wherever it is: here, in the loop
    that waits for the answers. Each waiting call gets it, as from its own read."""
    monkeypatch.setattr(settings, "callback_timeout_s", 1.0)
    receiver.hang["/slow"] = 3
    client = CallbackClient()
    thread_id = threading.get_ident()

    def guarded(i: int) -> str:
        try:
            client.post(f"{receiver.url}/slow", {}, message_id=f"msg_{i}")
        except TimeLimitExceeded:
            return "time limit"
        return "answered"

    def raise_time_limit() -> None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread_id), ctypes.py_object(TimeLimitExceeded)
        )

    timer = threading.Timer(0.2, raise_time_limit)
    timer.start()
    try:
        assert run_overlapped([lambda i=i: guarded(i) for i in range(3)]) == ["time limit"] * 3
    finally:
        timer.cancel()
        client.close()
