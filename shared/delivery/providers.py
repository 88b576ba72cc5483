"""Which provider delivers an SMS or email job: the callback to your backend, or AWS directly.

``SMS_PROVIDER`` / ``EMAIL_PROVIDER`` set the default; a request's ``metadata.provider`` chooses
for its own job (checked when the request comes in, ``shared.schemas``, and again when the job
runs, since the job may have been stored before a configuration change). Importing this module
imports no AWS code and no job engine.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import TYPE_CHECKING, Literal

from shared.settings import settings

if TYPE_CHECKING:
    from shared.jobs.store import Job

Channel = Literal["sms", "email"]
#: The providers each channel accepts, the default first.
PROVIDERS: dict[Channel, tuple[str, ...]] = {
    "sms": ("callback", "sns"),
    "email": ("callback", "ses"),
}


def provider_error(channel: Channel, provider: object) -> str | None:
    """Why ``provider`` (a ``metadata.provider`` value) cannot deliver ``channel``; None if
    it can."""
    allowed = PROVIDERS[channel]
    if provider not in allowed:
        shown = repr(provider)[:40]
        return f"{shown} is not a provider of {channel} (one of: {', '.join(allowed)})"
    if provider == "ses" and not settings.email_from:
        return "'ses' cannot send: EMAIL_FROM is not set on this service"
    if provider != "callback" and not boto3_installed():
        return f"{provider!r} cannot send: boto3 is not installed on this service"
    return None


@functools.cache
def boto3_installed() -> bool:
    """Whether boto3 can be imported (looked up once, without importing it)."""
    return importlib.util.find_spec("boto3") is not None


def provider_of(channel: Channel, job: Job) -> str:
    """The provider of ``job``: its ``metadata.provider``, else the channel's setting.

    Raises a non-retryable ``JobFailed`` for a provider this service cannot use (now).
    """
    from shared.jobs.runner import JobFailed  # not at import: shared.schemas imports this

    metadata = job.data.get("metadata") or {}
    default = settings.sms_provider if channel == "sms" else settings.email_provider
    provider = metadata.get("provider", default)
    if reason := provider_error(channel, provider):
        raise JobFailed(f"metadata.provider {reason}", retryable=False)
    return str(provider)
