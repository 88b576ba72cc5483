"""Standard Webhooks signing: the ``webhook-*`` headers of every callback, and checking them.

``sign`` and ``verify`` are what a receiver's library does; ``webhook_headers`` is what the
service sends with each attempt (the signature only when ``WEBHOOK_SECRET`` is set).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version

from shared.settings import settings

#: Default accepted clock skew between ``webhook-timestamp`` and now, in seconds.
DEFAULT_TOLERANCE_S = 300

_SECRET_PREFIX = "whsec_"


@functools.cache
def user_agent() -> str:
    """``queue-services/<version>``: looked up in the installed metadata on first use, not at
    import (the search costs a cold start that only verifies or signs a few ms)."""
    try:
        return f"queue-services/{version('queue-services')}"
    except PackageNotFoundError:  # a source tree never installed (the Lambda package)
        return "queue-services/0.1"


def __getattr__(name: str) -> str:
    if name == "USER_AGENT":  # the constant's old spelling, computed when first imported
        return user_agent()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _key(secret: str) -> bytes:
    if secret.startswith(_SECRET_PREFIX):
        return base64.b64decode(secret[len(_SECRET_PREFIX) :], validate=True)
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value ``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}``.

    ``secret`` is ``whsec_<base64 key>`` or, without that prefix, used as raw UTF-8 bytes;
    ``timestamp`` is in unix seconds.
    """
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``headers`` carry a valid signature of ``body`` made within ``tolerance_s`` seconds.

    Header names match case-insensitively; any one of several space-separated ``v1,``
    signatures may match. ``now`` is unix seconds (defaults to the clock).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature")
    if not message_id or not signatures or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_s:
        return False
    expected = sign(secret, message_id, int(timestamp), body).encode()
    return any(
        candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected)
        for candidate in signatures.split()
    )


def webhook_headers(
    message_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """Headers for one attempt: JSON type, user agent, ``webhook-id``/``-timestamp``/``-signature``.

    The signature is added only when ``settings.webhook_secret`` is set.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "content-type": "application/json",
        "user-agent": user_agent(),
        "webhook-id": message_id,
        "webhook-timestamp": str(ts),
    }
    if settings.webhook_secret:
        headers["webhook-signature"] = sign(settings.webhook_secret, message_id, ts, body)
    return headers
