"""Callbacks to users' backends: Standard Webhooks signing, pooled delivery, retry back-off.

Every delivery (SMS, email, AI callbacks, failure notices, outbound webhooks) posts through
``callback_client().post(url, payload, message_id=job_id)``, which never raises for network or
HTTP failures: it returns an :class:`Outcome` saying whether the attempt worked and whether a
retry could. :func:`next_retry_delay_ms` turns a failure into the wait before the next try.
:func:`callback_path_error` says whether a submitted ``metadata.callbackEndpoint`` may be
appended to a backend's URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import random
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import httpx

from shared.keepalive_transport import KeepAliveTransport, RawResponse
from shared.netguard import BlockedAddress
from shared.settings import settings

#: Longest back-off or honoured ``Retry-After``, in milliseconds (one hour).
MAX_DELAY_MS = 3_600_000
#: Response bytes read at most; a longer body is dropped with its connection, in bytes.
MAX_RESPONSE_BYTES = 65_536
#: Characters of a failed response's body quoted in ``Outcome.error``.
ERROR_BODY_CHARS = 200
#: Default accepted clock skew between ``webhook-timestamp`` and now, in seconds.
DEFAULT_TOLERANCE_S = 300

#: Longest ``metadata.callbackEndpoint``, in characters.
MAX_CALLBACK_PATH_CHARS = 2048
#: Layers of percent-encoding undone before a callback path is checked (``%252e`` has two).
MAX_DECODE_ROUNDS = 4

_SECRET_PREFIX = "whsec_"
_RETRYABLE_STATUSES = frozenset({408, 429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})

try:
    _VERSION = version("queue-services")
except PackageNotFoundError:  # running from a source tree that was never installed
    _VERSION = "0.1"
USER_AGENT = f"queue-services/{_VERSION}"

BackoffKind = Literal["fixed", "exponential"]


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to; ``retryable`` only matters when ``ok`` is false."""

    ok: bool
    status: int | None = None  #: HTTP status, or None when no response arrived
    retryable: bool = False
    retry_after_s: float | None = None  #: the receiver's ``Retry-After``, in seconds
    error: str | None = None  #: short human description of the failure
    elapsed_ms: float = 0.0  #: wall time of the attempt, in milliseconds


# --- Signing (Standard Webhooks) ------------------------------------------------------------


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
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(ts),
    }
    if settings.webhook_secret:
        headers["webhook-signature"] = sign(settings.webhook_secret, message_id, ts, body)
    return headers


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; raises ``TypeError``/``ValueError`` for what JSON cannot carry."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


# --- Callback paths -------------------------------------------------------------------------

_PATH_SHAPE = "must be a path starting with a single '/' (e.g. /send-sms), not a URL"


def _dot_segment_error(form: str) -> str | None:
    """Why one spelling of a path (raw or decoded) is refused, or None."""
    if "\\" in form:
        return "must not contain a backslash (some servers read it as '/')"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in form):
        return "must not contain control characters, encoded or not"
    lowered = form.lower()
    if "%2f" in lowered or "%5c" in lowered:
        return "must not contain an encoded '/' or '\\'"
    for segment in unicodedata.normalize("NFKC", form).split("/"):
        name = segment.split(";", 1)[0].strip()
        if name and not name.strip("."):
            return "must not contain '.' or '..' segments, in any spelling (%2e, ..;, etc.)"
    return None


def callback_path_error(path: object) -> str | None:
    """Why ``path`` may not serve as ``metadata.callbackEndpoint``, or None when it may.

    Allowed: printable ASCII without spaces, at most :data:`MAX_CALLBACK_PATH_CHARS`,
    starting with exactly one ``/``. The part before ``?`` is then percent-decoded until it no
    longer changes (up to :data:`MAX_DECODE_ROUNDS` layers) and every spelling is refused if
    it has a backslash, a control character, an encoded ``/`` or ``\\``, or a dot segment
    (``.``, ``..``, also with ``;params`` or Unicode look-alikes): a backend that decodes or
    normalises the path must not be led outside the endpoint it configured.
    """
    if not (
        isinstance(path, str)
        and path.startswith("/")
        and not path.startswith("//")
        and len(path) <= MAX_CALLBACK_PATH_CHARS
        and all("!" <= c <= "~" for c in path)
    ):
        return _PATH_SHAPE
    form = path.split("?", 1)[0]
    for _ in range(MAX_DECODE_ROUNDS + 1):
        if reason := _dot_segment_error(form):
            return reason
        decoded = unquote(form)
        if decoded == form:
            return None
        form = decoded
    return f"must not be percent-encoded more than {MAX_DECODE_ROUNDS} times over"


# --- Classification -------------------------------------------------------------------------


def current_timeout() -> httpx.Timeout:
    """Per-request timeouts from settings: connect, then read/write/pool, in seconds."""
    return httpx.Timeout(settings.callback_timeout_s, connect=settings.callback_connect_timeout_s)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """A ``Retry-After`` header (delta-seconds or HTTP-date) as seconds in ``[0, 1 h]``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000" zone: UTC by RFC 5322
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_DELAY_MS / 1000)


def _display_url(url: str) -> str:
    """``url`` without credentials or query string, for error messages and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return url[:200]
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else url[:200]


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def classify(
    url: str,
    result: RawResponse | Exception,
    *,
    elapsed_ms: float = 0.0,
    timeout: httpx.Timeout | None = None,
    now: float | None = None,
) -> Outcome:
    """Turn a response (its body already cut at ``MAX_RESPONSE_BYTES``) or a transport error
    into an Outcome.

    ``timeout`` names the limit in timeout errors; ``now`` (unix seconds) dates ``Retry-After``.
    """
    if isinstance(result, Exception):
        return _classify_error(result, elapsed_ms, timeout or current_timeout())
    status = result.status_code
    if 200 <= status < 300:
        return Outcome(ok=True, status=status, elapsed_ms=elapsed_ms)
    where = _display_url(url)
    if 300 <= status < 400:
        location = result.headers.get("location", "(none)")
        error = f"HTTP {status} from {where}: redirects are not followed (Location: {location})"
        return Outcome(ok=False, status=status, error=error, elapsed_ms=elapsed_ms)
    error = f"HTTP {status} from {where}"
    text = result.content.decode("utf-8", "replace")[:ERROR_BODY_CHARS].strip()
    retry_after = None
    if status in _RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(result.headers.get("retry-after"), now=now)
    return Outcome(
        ok=False,
        status=status,
        retryable=status >= 500 or status in _RETRYABLE_STATUSES,
        retry_after_s=retry_after,
        error=f"{error}: {text}" if text else error,
        elapsed_ms=elapsed_ms,
    )


def _classify_error(exc: Exception, elapsed_ms: float, timeout: httpx.Timeout) -> Outcome:
    retryable = True
    if isinstance(exc, httpx.TimeoutException):
        phase, limit = {
            httpx.ConnectTimeout: ("connect", timeout.connect),
            httpx.WriteTimeout: ("write", timeout.write),
            httpx.PoolTimeout: ("connection pool", timeout.pool),
        }.get(type(exc), ("read", timeout.read))
        error = f"{phase} timed out after {limit} s"
    elif isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        retryable, error = False, f"invalid callback URL: {_describe(exc)}"
    elif isinstance(exc, BlockedAddress):  # the address won't change its nature on a retry
        retryable, error = False, _describe(exc)
    elif isinstance(exc, httpx.ConnectError):
        error = f"connect error: {_describe(exc)}"
    else:
        error = f"{type(exc).__name__}: {_describe(exc)}"
    return Outcome(ok=False, retryable=retryable, error=error, elapsed_ms=elapsed_ms)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


#: What a post turns into an Outcome instead of raising.
_DELIVERY_ERRORS = (httpx.HTTPError, httpx.InvalidURL)


# --- Clients --------------------------------------------------------------------------------


class CallbackClient:
    """Posts callbacks over one pool of keep-alive connections, safe to share by threads.

    The pool is :class:`shared.keepalive_transport.KeepAliveTransport`, used directly: its
    ``post`` skips httpx's request and response models, the larger part of a worker's CPU per
    callback. ``guarded=True`` is for URLs users submitted: outside dev, an address that is not
    public (nor in ``CALLBACK_ALLOWED_NETWORKS``) fails at once, unretryable
    (``shared.netguard``).
    """

    def __init__(self, *, guarded: bool = False) -> None:
        self.guarded = guarded
        self._transport: KeepAliveTransport | None = None
        self._lock = threading.Lock()

    def _pool(self) -> KeepAliveTransport:
        transport = self._transport
        if transport is None:
            with self._lock:
                if self._transport is None:
                    self._transport = KeepAliveTransport(
                        max_body_bytes=MAX_RESPONSE_BYTES, guard=self.guarded
                    )
                transport = self._transport
        return transport

    def post(self, url: str, payload: Mapping[str, Any], *, message_id: str) -> Outcome:
        """POST ``payload`` as signed JSON to ``url``; ``message_id`` is constant across retries."""
        body = encode_payload(payload)
        headers = webhook_headers(message_id, body)
        timeout = current_timeout()
        started = time.perf_counter()
        try:
            response = self._pool().post(url, body, headers, timeout)
        except _DELIVERY_ERRORS as exc:
            return classify(url, exc, elapsed_ms=_elapsed_ms(started), timeout=timeout)
        return classify(url, response, elapsed_ms=_elapsed_ms(started))

    def close(self) -> None:
        """Close pooled connections; a later ``post`` opens a fresh pool."""
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


_shared: dict[tuple[int, bool], CallbackClient] = {}
_shared_lock = threading.Lock()


def callback_client(*, guarded: bool = False) -> CallbackClient:
    """The process-wide sync client (``guarded``: the one for user-submitted URLs); a forked
    child gets its own rather than its parent's."""
    key = (os.getpid(), guarded)
    client = _shared.get(key)
    if client is None:
        with _shared_lock:
            client = _shared.setdefault(key, CallbackClient(guarded=guarded))
    return client


# --- Back-off -------------------------------------------------------------------------------


def backoff_ms(
    attempt: int,
    *,
    kind: BackoffKind,
    delay_ms: int,
    jitter: float = 0.2,
    rng: Callable[[], float] = random.random,
) -> int:
    """Wait before the next try, in milliseconds, after ``attempt`` tries (1 after the first).

    ``exponential`` doubles ``delay_ms`` per try; the result is scaled by a random factor in
    ``[1 - jitter, 1 + jitter]`` and capped at :data:`MAX_DELAY_MS`.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts tries already made and starts at 1, got {attempt}")
    if not 0 <= jitter <= 1:
        raise ValueError(f"jitter is a fraction in [0, 1], got {jitter}")
    if kind == "fixed":
        base = delay_ms
    elif kind == "exponential":
        base = delay_ms * 2 ** min(attempt - 1, 63)
    else:
        raise ValueError(f"backoff kind must be 'fixed' or 'exponential', got {kind!r}")
    scaled = min(base, MAX_DELAY_MS) * (1 + jitter * (2 * rng() - 1))
    return max(0, min(round(scaled), MAX_DELAY_MS))


def next_retry_delay_ms(
    attempt: int, kind: BackoffKind, delay_ms: int, retry_after_s: float | None = None
) -> int:
    """Back-off for ``attempt``, or the receiver's ``Retry-After`` when that is longer, in ms."""
    wait = backoff_ms(attempt, kind=kind, delay_ms=delay_ms)
    if retry_after_s is not None:
        wait = max(wait, math.ceil(retry_after_s * 1000))
    return wait
