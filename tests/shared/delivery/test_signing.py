"""Standard Webhooks signatures, as a receiver's library checks them."""

from __future__ import annotations

import base64

from shared.delivery.signing import sign, verify

WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_rejects_stale_timestamps_and_accepts_any_listed_signature() -> None:
    body, ts = b"{}", 1_700_000_000
    good = sign(WHSEC, "job-1", ts, body)
    headers = {"Webhook-Id": "job-1", "Webhook-Timestamp": str(ts), "Webhook-Signature": good}
    assert verify(WHSEC, headers, body, now=ts + 299)
    assert not verify(WHSEC, headers, body, now=ts + 301)
    assert not verify(WHSEC, headers, body, now=ts - 301)
    several = {**headers, "Webhook-Signature": f"v1,bm9wZQ== {good}"}
    assert verify(WHSEC, several, body, now=ts)
    assert not verify(WHSEC, {**headers, "Webhook-Signature": "v1,bm9wZQ=="}, body, now=ts)
    assert not verify(WHSEC, {**headers, "Webhook-Timestamp": "soon"}, body, now=ts)
