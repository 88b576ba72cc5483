"""Callbacks to users' backends: signed JSON POSTs over a pooled keep-alive transport.

Every delivery (SMS, email, AI callbacks, failure notices, outbound webhooks) posts through
``callback_client().post(url, payload, message_id=job_id)``, which never raises for network or
HTTP failures: it returns an :class:`Outcome` saying whether the attempt worked and whether a
retry could (the wait before it is the engine's: ``shared.jobs.retry``). Signing is in
``shared.delivery.signing``, the check of ``metadata.callbackEndpoint`` in
``shared.delivery.paths``.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.delivery.netguard import BlockedAddress
from shared.delivery.signing import webhook_headers
from shared.delivery.transport import KeepAliveTransport, RawResponse
from shared.jobs import calls
from shared.settings import settings

#: Longest ``Retry-After`` honoured, in seconds (one hour).
MAX_RETRY_AFTER_S = 3_600.0
#: Response bytes read at most; a longer body is dropped with its connection, in bytes.
MAX_RESPONSE_BYTES = 65_536
#: Characters of a failed response's body quoted in ``Outcome.error``.
ERROR_BODY_CHARS = 200
_RETRYABLE_STATUSES = frozenset({408, 429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to; ``retryable`` only matters when ``ok`` is false."""

    ok: bool
    status: int | None = None  #: HTTP status, or None when no response arrived
    retryable: bool = False
    retry_after_s: float | None = None  #: the receiver's ``Retry-After``, in seconds
    error: str | None = None  #: short human description of the failure
    elapsed_ms: float = 0.0  #: wall time of the attempt, in milliseconds


#: One encoder for every payload (``json.dumps`` with options builds one per call).
_PAYLOAD_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; raises ``TypeError``/``ValueError`` for what JSON cannot carry."""
    return _PAYLOAD_JSON.encode(payload).encode()


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
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


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

    The pool is :class:`shared.delivery.transport.KeepAliveTransport`, used directly: its
    ``post`` skips httpx's request and response models, the larger part of a worker's CPU per
    callback. ``guarded=True`` is for URLs users submitted: outside dev, an address that is not
    public (nor in ``CALLBACK_ALLOWED_NETWORKS``) fails at once, unretryable
    (``shared.delivery.netguard``).
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
            outcome = classify(url, exc, elapsed_ms=_elapsed_ms(started), timeout=timeout)
        else:
            outcome = classify(url, response, elapsed_ms=_elapsed_ms(started))
        calls.record(
            url, status=outcome.status, ms=outcome.elapsed_ms, webhook_id=message_id,
            ok=outcome.ok, error=outcome.error,
        )  # fmt: skip
        return outcome

    def close(self) -> None:
        """Close pooled connections; a later ``post`` opens a fresh pool."""
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


_shared: dict[bool, CallbackClient] = {}
_shared_lock = threading.Lock()


#: In a forked child, the parent's clients: never used, and kept from the garbage collector so
#: that nothing in the child touches the parent's pooled connections.
_parents: list[CallbackClient] = []


def _forget_parents_clients() -> None:
    """In a forked child: the parent's pooled connections (and its lock, which another of its
    threads may have held at the fork) are not the child's to use."""
    global _shared_lock
    _parents.extend(_shared.values())
    _shared.clear()
    _shared_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_parents_clients)


def callback_client(*, guarded: bool = False) -> CallbackClient:
    """The process-wide sync client (``guarded``: the one for user-submitted URLs); a forked
    child gets its own rather than its parent's (without a ``getpid`` system call per job)."""
    client = _shared.get(guarded)
    if client is None:
        with _shared_lock:
            client = _shared.setdefault(guarded, CallbackClient(guarded=guarded))
    return client
