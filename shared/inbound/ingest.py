"""Accepting one inbound webhook: ``POST /webhooks/{channel}`` -> 202, queued once.

In order, each step refusing with a problem and writing nothing: the channel name (400), a
configured channel (404: a secret in ``WEBHOOK_SECRETS``, or allowed unsigned), the body size
(413, ``WEBHOOK_MAX_BODY_BYTES``), the signature (401), ``APP_API_URL`` (503). A delivery whose
provider event id this channel saw within ``WEBHOOK_DEDUP_WINDOW_S`` then answers 202
``duplicate: true``; any other passes the channel's admission limit (429; so only new,
verified deliveries count) and is queued on ``webhook-processing``.

Duplicates are caught twice, both under the queue's hash tag and per channel: the job store's
idempotency key (atomic with the job's creation, as long as the job lives) and a marker
``seen:<channel>:<event id>`` kept for the dedup window, written once the job exists.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from shared.http import Problem, Request, Response
from shared.http.ratelimit import Limit, enforce
from shared.inbound.channels import ANY_CHANNEL, CHANNEL_NAME, parse_secrets, parse_unsigned
from shared.inbound.record import payload_of, stored_headers
from shared.inbound.schemes import CHECKS, BadSignature
from shared.jobs.keys import new_job_id, queue_key
from shared.jobs.queues import QUEUES
from shared.jobs.store import JobStore, NewJob, now_ms
from shared.redis_client import get_redis
from shared.schemas import iso_ms
from shared.settings import SERVICE_ORG, settings

log = logging.getLogger("qs.inbound")

QUEUE = "webhook-processing"
#: What a provider's event id may be (it becomes part of Redis keys).
EVENT_ID = re.compile(r"[!-~]{1,255}")
#: Every repeat of an event id is a duplicate, whatever its body (a provider's id names one
#: event), so the idempotency fingerprint is a constant.
_FINGERPRINT = "inbound-webhook"


class WebhookAccepted(BaseModel):
    """``202``: queued (``webhookId`` is its job id), or a repeat dropped (the first one's)."""

    success: bool = True
    webhookId: str
    duplicate: bool = False


def _channel(request: Request[Any]) -> str:
    name = request.path_params.get("channel", "")
    if not CHANNEL_NAME.fullmatch(name):
        raise Problem(
            400,
            "A webhook channel is 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit.",
        )
    return name


def _verify(request: Request[Any], name: str) -> str | None:
    """The delivery's provider event id once it is verified (or its channel is unsigned);
    404 for a channel not configured, 413 for a body over the cap, 401 for a bad signature."""
    channel = parse_secrets(settings.webhook_secrets).get(name)
    if channel is None:
        unsigned = parse_unsigned(settings.webhook_allow_unsigned)
        if name not in unsigned and ANY_CHANNEL not in unsigned:
            raise Problem(404, f"No webhook channel {name!r} is configured.")
    _check_size(request)
    if channel is None:
        return request.headers.get("webhook-id") or request.headers.get("idempotency-key")
    check = CHECKS[channel.scheme]
    try:
        return check(
            channel.secrets, request.headers, request.raw_body, settings.webhook_tolerance_s
        )
    except BadSignature as exc:
        log.warning(
            "webhook refused on channel %s: %s", name, exc, extra={"request_id": request.request_id}
        )
        raise Problem(
            401, f"Channel {name!r} ({channel.scheme} signatures): {exc}.", title="Bad signature"
        ) from None


def _check_size(request: Request[Any]) -> None:
    size, cap = len(request.raw_body), settings.webhook_max_body_bytes
    if size > cap:
        raise Problem(413, f"The body is {size} bytes; a webhook may carry {cap} bytes.")


def _admit(name: str) -> None:
    window_ms = settings.webhook_rate_limit_window_s * 1000
    enforce([(Limit("webhooks:channel", settings.webhook_rate_limit_per_channel, window_ms), name)])


def _seen_key(name: str, event_id: str) -> str:
    return queue_key(QUEUE, "seen", name, quote(event_id, safe=""))


def accept(request: Request[Any]) -> Response:
    """Verify, bound and queue one delivery (see the module docstring for the order)."""
    name = _channel(request)
    event_id = _verify(request, name)
    if event_id is not None and not EVENT_ID.fullmatch(event_id):
        raise Problem(400, "The delivery's event id must be 1-255 printable ASCII characters.")
    if not settings.app_api_url:
        raise Problem(
            503, "APP_API_URL is not set: inbound webhooks have nowhere to go.",
            headers={"retry-after": "60"},
        )  # fmt: skip
    client = get_redis()
    if event_id is not None and (earlier := client.get(_seen_key(name, event_id))):
        return _accepted(str(earlier), duplicate=True)  # a repeat costs the channel no room
    _admit(name)
    webhook_id = new_job_id(QUEUES[QUEUE].code)
    payload, encoding = payload_of(request.raw_body)
    data: dict[str, Any] = {
        "webhookId": webhook_id,
        "channel": name,
        "eventId": event_id,
        "payload": payload,
        "headers": stored_headers(request.headers),
        "receivedAt": iso_ms(now_ms()),
    }
    if encoding:
        data["payloadEncoding"] = encoding
    created = JobStore(client).create(
        NewJob(
            queue=QUEUE,
            actor=QUEUES[QUEUE].actor,
            data=data,
            due_ms=0,
            max_attempts=QUEUES[QUEUE].max_attempts,
            workspace_id=name,  # fair share between channels
            org=SERVICE_ORG,
            idempotency=(f"webhook.{name}", event_id, _FINGERPRINT) if event_id else None,
            job_id=webhook_id,
        )
    )
    if event_id is not None:
        ttl_ms = settings.webhook_dedup_window_s * 1000
        client.set(_seen_key(name, event_id), created.job_id, px=ttl_ms, nx=True)
    return _accepted(created.job_id, duplicate=created.status != "created")


def _accepted(webhook_id: str, *, duplicate: bool) -> Response:
    return Response(WebhookAccepted(webhookId=webhook_id, duplicate=duplicate), status=202)
