"""Provider signature schemes: check a delivery, and name the provider's event id.

Each check takes the channel's secrets, the request's headers (lower-case names) and its raw
body, and returns the event id the provider gives the delivery (``None`` when it gives none),
or raises :class:`BadSignature` saying what is wrong. Every comparison is constant-time
(``hmac.compare_digest``); several secrets (rotation) are all tried.

- ``standard`` (Standard Webhooks, Svix): ``webhook-id``, ``webhook-timestamp`` (unix s),
  ``webhook-signature`` ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, space
  separated; ``whsec_<base64>`` secrets. Event id: ``webhook-id``.
- ``stripe``: ``Stripe-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "{t}.{body}">`` (several
  ``v1`` allowed), keyed with the whole ``whsec_…`` string. Event id: the body's ``id``.
- ``github``: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``. No timestamp, so
  no replay window beyond duplicate detection. Event id: ``X-GitHub-Delivery``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence

from shared.delivery import signing
from shared.inbound.channels import Scheme


class BadSignature(Exception):
    """A delivery that does not verify; the message says why (no secret in it)."""


Headers = Mapping[str, str]
Check = Callable[[Sequence[str], Headers, bytes, float], str | None]


def _fresh(timestamp: str, header: str, tolerance_s: float) -> int:
    if not timestamp.isdigit():
        raise BadSignature(f"{header} is missing or not a unix time in seconds")
    skew = abs(time.time() - int(timestamp))
    if skew > tolerance_s:
        raise BadSignature(
            f"{header} is {skew:.0f} s away from now; the tolerance is {tolerance_s:.0f} s "
            "(a replayed or stale delivery)"
        )
    return int(timestamp)


def _any_equal(candidates: Sequence[str], expected: Sequence[str]) -> bool:
    """Whether any candidate equals any expected value; every pair is compared."""
    matched = False
    for candidate in candidates:
        for value in expected:
            matched |= hmac.compare_digest(candidate.encode(), value.encode())
    return matched


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def standard(secrets: Sequence[str], headers: Headers, body: bytes, tolerance_s: float) -> str:
    message_id = headers.get("webhook-id", "")
    signatures = headers.get("webhook-signature", "").split()
    if not message_id or not signatures:
        raise BadSignature("webhook-id and webhook-signature headers are required")
    ts = _fresh(headers.get("webhook-timestamp", ""), "webhook-timestamp", tolerance_s)
    expected = [signing.sign(secret, message_id, ts, body) for secret in secrets]
    if not _any_equal(signatures, expected):
        raise BadSignature("no webhook-signature matches the channel's secret")
    return message_id


def stripe(secrets: Sequence[str], headers: Headers, body: bytes, tolerance_s: float) -> str | None:
    pairs = [item.partition("=") for item in headers.get("stripe-signature", "").split(",")]
    timestamps = [value.strip() for name, _, value in pairs if name.strip() == "t"]
    signatures = [value.strip().lower() for name, _, value in pairs if name.strip() == "v1"]
    if len(timestamps) != 1 or not signatures:
        raise BadSignature("Stripe-Signature needs one t= and at least one v1=")
    ts = _fresh(timestamps[0], "Stripe-Signature t=", tolerance_s)
    signed = f"{ts}.".encode() + body
    if not _any_equal(signatures, [_hex_hmac(secret, signed) for secret in secrets]):
        raise BadSignature("no Stripe-Signature v1= matches the channel's secret")
    try:
        event_id = json.loads(body).get("id")
    except (ValueError, AttributeError, RecursionError):
        return None
    return event_id if isinstance(event_id, str) else None


def github(secrets: Sequence[str], headers: Headers, body: bytes, tolerance_s: float) -> str | None:
    scheme, _, digest = headers.get("x-hub-signature-256", "").partition("=")
    if scheme != "sha256" or not digest:
        raise BadSignature("X-Hub-Signature-256: sha256=<hex> is required")
    if not _any_equal([digest.strip().lower()], [_hex_hmac(secret, body) for secret in secrets]):
        raise BadSignature("X-Hub-Signature-256 does not match the channel's secret")
    return headers.get("x-github-delivery") or None


#: Each scheme's check.
CHECKS: dict[Scheme, Check] = {"standard": standard, "stripe": stripe, "github": github}
