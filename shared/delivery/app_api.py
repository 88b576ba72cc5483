"""Calls to your app (``APP_API_URL``) whose answer a job reads: fresh lead data, a sync page.

Signed like every callback (Standard Webhooks headers, ``webhook-id`` = the caller's stable
id; a GET signs its empty body), over one pooled keep-alive transport per process. A failure
raises ``JobFailed`` classified as callbacks are (5xx, 408, 429 and network errors retryable,
with the app's ``Retry-After``); so does an answer that is not JSON or larger than
``MAX_APP_RESPONSE_BYTES``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from typing import Any, NoReturn

import httpx

from shared.delivery.callbacks import Outcome, classify, current_timeout, encode_payload
from shared.delivery.send import join_url
from shared.delivery.signing import webhook_headers
from shared.delivery.transport import KeepAliveTransport, RawResponse
from shared.jobs.runner import JobFailed
from shared.settings import settings

#: Largest answer read from the app, in bytes (a page of leads or of a sync).
MAX_APP_RESPONSE_BYTES = 4 * 1_048_576

_clients: dict[int, httpx.Client] = {}
_lock = threading.Lock()


def _client() -> httpx.Client:
    """This process's pooled client (a forked child makes its own)."""
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        with _lock:
            transport = KeepAliveTransport(max_body_bytes=MAX_APP_RESPONSE_BYTES + 1)
            client = _clients.setdefault(pid, httpx.Client(transport=transport))
    return client


def app_url(endpoint: str) -> str:
    """``APP_API_URL`` + ``endpoint``; a non-retryable ``JobFailed`` when it is not set."""
    if not settings.app_api_url:
        raise JobFailed("APP_API_URL is not set: this job calls your app", retryable=False)
    return join_url(settings.app_api_url, endpoint)


def call_app(
    method: str,
    url: str,
    *,
    message_id: str,
    payload: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
    timeout: httpx.Timeout | None = None,
) -> Any:
    """``method`` ``url`` (``payload`` as the JSON body, ``params`` as the query string),
    signed with ``message_id``, within ``timeout`` (default: the callback timeouts); the
    answer's JSON, or ``JobFailed``."""
    body = encode_payload(payload) if payload is not None else b""
    target = str(httpx.URL(url, params=params)) if params else url
    headers = webhook_headers(message_id, body)
    timeout = timeout or current_timeout()
    try:
        response = _client().request(
            method, target, content=body or None, headers=headers, timeout=timeout
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        _raise(classify(url, exc, timeout=timeout))
    raw = RawResponse(response.status_code, dict(response.headers), response.content)
    outcome = classify(url, raw)
    if not outcome.ok:
        _raise(outcome)
    if len(raw.content) > MAX_APP_RESPONSE_BYTES:
        raise JobFailed(
            f"the answer of {url} is over {MAX_APP_RESPONSE_BYTES} bytes", retryable=False
        )
    try:
        return json.loads(raw.content)
    except (ValueError, UnicodeDecodeError):
        text = raw.content[:200].decode("utf-8", "replace")
        raise JobFailed(f"the answer of {url} is not JSON: {text!r}", retryable=True) from None


def _raise(outcome: Outcome) -> NoReturn:
    raise JobFailed(
        outcome.error or f"HTTP {outcome.status}",
        retryable=outcome.retryable,
        retry_after_s=outcome.retry_after_s,
    )
