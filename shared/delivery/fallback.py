"""The seed's fallback: while Redis is unreachable, an immediate send marked
``options.fallback: "sync"`` is delivered in the API call itself instead of a 503.

Only when nothing can have been written: the connection to Redis never opened
(``store_errors.never_connected``). After a time-out or a dropped connection the job may be
stored, and sending it here too could send it twice: that stays the usual 503. Only an
immediate send (no ``sendAt``, no ``delay`` above 0) falls back; so does nothing else.

The message runs through its queue's own processor, as a worker would run it, once: no retry,
no job record (``GET /api/job-status`` does not know its id), and it is not counted against
the queue's rate limit (that count lives in Redis). The answer says so:
``{"mode": "sync-fallback"}``; a failed delivery is a 502 with the backend's error.

The job engine's runner and the processors (httpx, the AWS clients) load on the first send
made here, not at a handler's cold start: this path runs only while Redis is unreachable.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import redis

from shared.http import Problem, Request, Response
from shared.http.store_errors import never_connected
from shared.jobs.queues import QUEUES
from shared.jobs.store import Job, fingerprint, new_job_id, now_ms
from shared.scheduling import scheduled_one
from shared.schemas import EmailCreate, ScheduledResponse, SmsCreate, job_data

log = logging.getLogger("qs.fallback")


class SentSynchronously(ScheduledResponse):
    """Answer of a send made in the call: ``{success, jobId, message, mode, result}``;
    ``jobId`` is the ``webhook-id`` the backend got (no job of that id is stored)."""

    mode: Literal["sync-fallback"] = "sync-fallback"
    result: Any = None  #: the delivery: ``{status, elapsedMs}``


def wants_sync(message: SmsCreate | EmailCreate) -> bool:
    """Whether ``message`` asked to be sent in the call when Redis is down (``options.fallback:
    "sync"``) and is due now."""
    due_now = message.send_at is None and not message.delay
    return bool(message.options and message.options.fallback == "sync" and due_now)


def _fallback_id(queue: str, org: str, key: str | None) -> str:
    """The id of a send made in the call: derived from the client's ``jobId`` or
    ``Idempotency-Key`` when given (a retried request carries the same ``webhook-id``, so the
    backend can drop the repeat), else new."""
    code = QUEUES[queue].code
    if not key:
        return new_job_id(code)
    return code + "SYNC" + fingerprint([org, key])[:22].upper()


def send_now(request: Request[Any], queue: str, message: SmsCreate | EmailCreate) -> Response:
    """Run ``message`` through ``queue``'s processor now; 200 ``SentSynchronously`` or 502."""
    from shared.jobs.queues import resolve
    from shared.jobs.runner import JobFailed

    assert request.principal is not None
    spec, org, at = QUEUES[queue], request.principal.org, now_ms()
    key = message.client_job_id or request.headers.get("idempotency-key")
    options = message.options.model_dump(exclude_none=True) if message.options else {}
    job = Job(
        id=_fallback_id(queue, org, key), queue=queue, actor=spec.actor, state="active",
        data=job_data(message), options=options, attempts=1, max_attempts=1, created_at=at,
        scheduled_for=at, started_at=at, workspace_id=message.workspace_id,
        contact_id=message.contact_id, org=org,
    )  # fmt: skip
    assert spec.processor is not None
    try:
        result = resolve(spec.processor)(job)
    except JobFailed as exc:
        raise Problem(
            502,
            f"The job store is unreachable, and sending in the call failed: {exc.error}. "
            "Nothing was stored; retry later.",
        ) from None
    log.warning("sent in the call: the job store is unreachable", extra={"job_id": job.id})
    what = "SMS" if queue == "sms" else "Email"
    text = f"{what} sent synchronously: the job store is unreachable"
    return Response(SentSynchronously(job_id=job.id, message=text, result=result))


def scheduled_or_sent(
    request: Request[Any], queue: str, message: SmsCreate | EmailCreate, text: str
) -> Response:
    """``scheduling.scheduled_one``; when Redis could not even be reached and the message asks
    for it (``wants_sync``), ``send_now`` instead."""
    try:
        return scheduled_one(request, queue, message, text)
    except redis.RedisError as exc:
        if not (wants_sync(message) and never_connected(exc)):
            raise
        return send_now(request, queue, message)
