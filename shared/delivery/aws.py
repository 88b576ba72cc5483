"""boto3 clients for the direct delivery providers, and how their errors become ``JobFailed``.

One client per service and process, created on first use (so importing this costs nothing and
a Lambda reuses its clients across invocations; boto3 clients are thread-safe), in
``AWS_REGION``, with the callback timeouts and **no retries inside botocore**: a throttled or
failed call fails the attempt, and the job's own back-off (``shared.jobs.retry``) tries again,
so a worker thread never sleeps inside a call. A queue's rate limit counts each request as
it is sent (``shared.jobs.send_gate``), as it does for callbacks.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from shared.jobs.runner import JobFailed
from shared.jobs.send_gate import before_write
from shared.settings import settings

if TYPE_CHECKING:
    from botocore.client import BaseClient

#: Error codes AWS answers when a caller goes too fast (botocore's list, plus SNS' own).
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "RequestThrottled", "SlowDown", "EC2ThrottledException", "KMSThrottlingException",
})  # fmt: skip
#: Other error codes that say "try again later" whatever their HTTP status.
TRANSIENT_CODES = frozenset({
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "InternalError",
    "InternalFailure", "InternalFailureException", "ServiceUnavailable",
    "ServiceUnavailableException", "KMSInternalException", "KMSUnavailableException",
})  # fmt: skip
#: Characters of an AWS error message quoted in the job's error.
ERROR_CHARS = 300

_clients: dict[tuple[int, str], BaseClient] = {}
_lock = threading.Lock()


def client(service: str) -> BaseClient:
    """The process' client for ``service`` (``sns``, ``sesv2``); a forked child makes its own."""
    key = (os.getpid(), service)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                found = _clients[key] = _new_client(service)
    return found


def _new_client(service: str) -> BaseClient:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise JobFailed(
            f"the {service} provider needs boto3: pip install 'queue-services[aws]'",
            retryable=False,
        ) from None

    config = Config(
        connect_timeout=settings.callback_connect_timeout_s,
        read_timeout=settings.callback_timeout_s,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=max(10, settings.worker_threads),
    )
    made = boto3.session.Session().client(service, region_name=settings.aws_region, config=config)
    # A rate-limited queue counts each request as it goes out, as the callback transport does.
    made.meta.events.register_first("before-send", _wait_for_send_slot)
    return made


def _wait_for_send_slot(**_: Any) -> None:
    """botocore's ``before-send`` hook: the current job's rate gate, if it has one."""
    before_write()


def reset_clients() -> None:
    """Drop the cached clients (tests, or after changing ``AWS_REGION``)."""
    with _lock:
        _clients.clear()


def call(provider: str, operation: str, method: Any, **params: Any) -> dict[str, Any]:
    """``method(**params)``; an AWS error becomes a ``JobFailed`` (retryable or not, see
    :func:`failure`) that names ``provider`` and ``operation``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return method(**params)
    except (ClientError, BotoCoreError) as exc:
        raise failure(provider, operation, exc) from None


def failure(provider: str, operation: str, exc: Exception) -> JobFailed:
    """A ``JobFailed`` for ``exc``: throttling, 5xx, time-outs and connection errors are
    retryable; anything else (invalid parameter, unverified sender, opted-out number,
    credentials or permissions) fails the job at once."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as AwsConnectionError

    where = f"{provider} {operation}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or "")[:ERROR_CHARS]
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        retryable = code in THROTTLING_CODES or code in TRANSIENT_CODES or status == 429
        retryable = retryable or status >= 500
        kind = "throttled" if code in THROTTLING_CODES else "failed"
        text = f"{where} {kind} ({code}, HTTP {status or '?'}): {message}".rstrip(": ")
        return JobFailed(text, retryable=retryable)
    if isinstance(exc, AwsConnectionError | HTTPClientError):  # connect/read time-outs, resets
        return JobFailed(f"{where} failed: {exc}", retryable=True)
    return JobFailed(f"{where} failed: {type(exc).__name__}: {exc}", retryable=False)
