"""``bench.transports``: every pool of the transport A/B sends the same signed callback to a
real receiver, the sender child's figures, and the swap the drain A/B's workers run with."""

from __future__ import annotations

import pytest

from bench import transports
from shared.delivery import callbacks
from shared.delivery.signing import verify
from shared.settings import settings
from tests.servers import Receiver


@pytest.fixture(autouse=True)
def restore(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a test swaps or sets here is put back afterwards."""
    monkeypatch.setattr(settings, "webhook_secret", "")
    monkeypatch.setattr(callbacks, "KeepAliveTransport", callbacks.KeepAliveTransport)


@pytest.mark.parametrize("variant", transports.VARIANTS)
def test_every_pool_posts_the_callback_as_ours_does(variant: str, receiver: Receiver) -> None:
    settings.webhook_secret = transports.BENCH_SECRET
    body = callbacks.encode_payload({"jobId": "job-1", "message": "hi"})
    headers = callbacks.webhook_headers("job-1", body)
    pool = transports.POOLS[variant](max_body_bytes=5)
    try:
        for _ in range(3):  # the same connections again
            answer = pool.post(
                receiver.url + "/send-sms", body, headers, callbacks.current_timeout()
            )
            assert answer.status_code == 200 and answer.content == b'{"rec'  # cut at 5 bytes
    finally:
        pool.close()
    assert [c.path for c in receiver.calls] == ["/send-sms"] * 3
    call = receiver.calls[-1]
    assert call.body == body and verify(transports.BENCH_SECRET, call.headers, body)
    assert call.headers["content-type"] == "application/json"


@pytest.mark.parametrize("variant", ["ours", "urllib3", "sign"])
def test_the_sender_times_n_signed_callbacks_after_a_warm_up(
    variant: str, receiver: Receiver
) -> None:
    figures = transports.send(receiver.url + "/send-sms", variant, 10, 3)
    assert figures["errors"] == 0 and figures["seconds"] > 0 and figures["cpu_s"] >= 0
    sent = 0 if variant == "sign" else 9 + 3 * transports.WARMUP_PER_THREAD
    assert len(receiver.calls) == sent
    if sent:
        call = receiver.calls[-1]
        assert call.json()["phoneNumber"] and call.json()["jobId"] == call.headers["webhook-id"]
        assert verify(transports.BENCH_SECRET, call.headers, call.body)


def test_library_pools_refuse_to_stand_in_for_a_guarded_client() -> None:
    for variant in ("httpx", "urllib3", "urllib3-pool"):
        with pytest.raises(ValueError, match="do not guard"):
            transports.POOLS[variant](guard=True)


def test_the_workers_swap_puts_the_library_under_every_new_callback_client(
    receiver: Receiver,
) -> None:
    transports.use_pool("urllib3")
    client = callbacks.CallbackClient()
    try:
        outcome = client.post(receiver.url + "/send-sms", {"jobId": "j"}, message_id="j")
        assert outcome.ok and isinstance(client._pool(), transports.Urllib3Pool)
    finally:
        client.close()
    assert receiver.calls[0].headers["webhook-id"] == "j"
