"""How each provider signs a delivery, written from its documentation (the tests' oracle)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

KEY = b"secret-key-for-inbound-tests"
WHSEC = "whsec_" + base64.b64encode(KEY).decode()
BODY = b'{"id":"evt_1","type":"invoice.paid"}'
TOLERANCE_S = 300


def standard_headers(body: bytes = BODY, *, key: bytes = KEY, at: float | None = None) -> dict:
    """Standard Webhooks headers of message ``msg_1`` signed at ``at`` (unix s; default now)."""
    ts = int(time.time() if at is None else at)
    digest = hmac.new(key, f"msg_1.{ts}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(digest).decode()
    return {"webhook-id": "msg_1", "webhook-timestamp": str(ts), "webhook-signature": signature}


def stripe_headers(body: bytes = BODY, *, secret: str = WHSEC, at: float | None = None) -> dict:
    """``Stripe-Signature`` keyed with the whole ``whsec_`` string, signed at ``at``."""
    ts = int(time.time() if at is None else at)
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={ts},v1={digest},v0=ignored"}


def github_headers(body: bytes = BODY, *, secret: str = "gh-secret") -> dict:
    """``X-Hub-Signature-256`` and delivery ``d-1``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "x-github-delivery": "d-1"}
