"""Each provider's signature scheme: a good signature gives the event id, anything else is
refused with the reason. Signatures here are computed as each provider documents them."""

from __future__ import annotations

import time

import pytest

from shared.inbound.schemes import BadSignature, github, standard, stripe
from tests.shared.inbound.providers import (
    BODY,
    TOLERANCE_S,
    WHSEC,
    github_headers,
    standard_headers,
    stripe_headers,
)


def test_standard_webhooks_signature_verifies_and_names_the_webhook_id():
    assert standard([WHSEC], standard_headers(), BODY, TOLERANCE_S) == "msg_1"


def test_standard_webhooks_accepts_any_of_several_signatures_and_secrets():
    headers = standard_headers()
    headers["webhook-signature"] = "v1,bm90LWl0 " + headers["webhook-signature"]
    assert standard(["whsec_b2xk", WHSEC], headers, BODY, TOLERANCE_S) == "msg_1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h: h.pop("webhook-signature"), "required"),
        (lambda h: h.pop("webhook-timestamp"), "not a unix time"),
        (lambda h: h.update({"webhook-id": "msg_2"}), "no webhook-signature matches"),
        (lambda h: h.update(standard_headers(key=b"another key")), "no webhook-signature matches"),
    ],
)
def test_standard_webhooks_refuses_a_wrong_or_missing_part(change, reason):
    headers = standard_headers()
    change(headers)
    with pytest.raises(BadSignature, match=reason):
        standard([WHSEC], headers, BODY, TOLERANCE_S)


def test_standard_webhooks_refuses_a_tampered_body_and_a_stale_timestamp():
    with pytest.raises(BadSignature, match="matches"):
        standard([WHSEC], standard_headers(), BODY + b" ", TOLERANCE_S)
    stale = standard_headers(at=time.time() - TOLERANCE_S - 5)
    with pytest.raises(BadSignature, match="tolerance is 300 s"):
        standard([WHSEC], stale, BODY, TOLERANCE_S)
    future = standard_headers(at=time.time() + TOLERANCE_S + 5)
    with pytest.raises(BadSignature, match="tolerance"):
        standard([WHSEC], future, BODY, TOLERANCE_S)


def test_stripe_signature_verifies_and_names_the_event_id():
    assert stripe([WHSEC], stripe_headers(), BODY, TOLERANCE_S) == "evt_1"
    assert stripe([WHSEC], stripe_headers(b"[]"), b"[]", TOLERANCE_S) is None


@pytest.mark.parametrize(
    "header",
    ["", "t=1", "v1=abc", "t=now,v1=abc", "t=1,t=2,v1=abc"],
)
def test_stripe_refuses_a_malformed_header(header):
    with pytest.raises(BadSignature):
        stripe([WHSEC], {"stripe-signature": header}, BODY, TOLERANCE_S)


def test_stripe_refuses_a_wrong_secret_a_tampered_body_and_a_stale_timestamp():
    with pytest.raises(BadSignature, match="matches"):
        stripe([WHSEC], stripe_headers(secret="whsec_other"), BODY, TOLERANCE_S)
    with pytest.raises(BadSignature, match="matches"):
        stripe([WHSEC], stripe_headers(), BODY + b" ", TOLERANCE_S)
    stale = stripe_headers(at=time.time() - TOLERANCE_S - 5)
    with pytest.raises(BadSignature, match="stale"):
        stripe([WHSEC], stale, BODY, TOLERANCE_S)


def test_github_signature_verifies_and_names_the_delivery():
    assert github(["gh-secret"], github_headers(), BODY, TOLERANCE_S) == "d-1"


def test_github_refuses_a_wrong_secret_a_tampered_body_or_no_signature():
    with pytest.raises(BadSignature, match="does not match"):
        github(["gh-secret"], github_headers(secret="other"), BODY, TOLERANCE_S)
    with pytest.raises(BadSignature, match="does not match"):
        github(["gh-secret"], github_headers(), BODY + b" ", TOLERANCE_S)
    with pytest.raises(BadSignature, match="required"):
        github(["gh-secret"], {"x-hub-signature": "sha1=abc"}, BODY, TOLERANCE_S)
