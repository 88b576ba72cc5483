"""Scheduling deliveries from validated requests, and acting on jobs by id (shared by handlers)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from shared.http import Problem, Request, Response
from shared.http.auth import SERVICE_ORG
from shared.jobs import group_commit, progress
from shared.jobs.queues import QUEUES
from shared.jobs.store import Job, JobStore, NewJob, fingerprint, idempotency_scope, now_ms
from shared.schemas import (
    DEFAULT_PRIORITY,
    BulkScheduledResponse,
    EmailCreate,
    JobAction,
    JobStatus,
    ScheduledResponse,
    SmsCreate,
    iso_ms,
    job_data,
)

#: What an ``Idempotency-Key`` header may hold.
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")


def _idempotency_header(request: Request[Any]) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise Problem(400, "Idempotency-Key must be 1-255 printable ASCII characters.")
    return key


def new_job(
    queue: str, message: SmsCreate | EmailCreate, *, org: str, key: str | None, at_ms: int
) -> NewJob:
    """The job of one validated message for ``org``; ``key`` (its idempotency key, or None)
    makes a repeat of the same message return the first job."""
    spec = QUEUES[queue]
    options = message.options.model_dump(exclude_none=True) if message.options else {}
    return NewJob(
        queue=queue,
        actor=spec.actor,
        data=job_data(message),
        due_ms=message.due_at_ms(at_ms),
        # a delay counts from Redis' clock, not this host's
        delay_ms=None if message.delay is None else round(message.delay),
        max_attempts=options.get("attempts", spec.max_attempts),
        options=options,
        workspace_id=message.workspace_id,
        contact_id=message.contact_id,
        org=org,
        priority=options.get("priority", DEFAULT_PRIORITY),
        idempotency=(idempotency_scope(org), key, fingerprint(message.model_dump(mode="json")))
        if key
        else None,
    )


def _new_jobs(
    request: Request[Any], queue: str, messages: Sequence[SmsCreate | EmailCreate]
) -> list[NewJob]:
    assert request.principal is not None
    header = _idempotency_header(request)
    at = now_ms()
    jobs = []
    for index, message in enumerate(messages):
        key = message.client_job_id
        if key is None and header is not None:
            key = header if len(messages) == 1 else f"{header}#{index}"
        jobs.append(new_job(queue, message, org=request.principal.org, key=key, at_ms=at))
    return jobs


def create_all(
    jobs: list[NewJob], *, where: str | None, field: str, done: str
) -> tuple[list[str], bool]:
    """Create ``jobs`` (one queue) all or none; (job ids in order, whether all were replays).

    A reused idempotency key is a 422 naming the position (``where`` + index, e.g.
    ``messages.3``; ``None``: "request"), the request ``field`` that carried the key, and that
    nothing was ``done`` (``scheduled``, ``queued``).
    """
    created = group_commit.create_many(jobs)
    if created[0].status == "conflict":
        at = f"{where}{created[0].index}" if where is not None else "request"
        raise Problem(
            422,
            f"The idempotency key of {at} was already used for a different request "
            f"(job {created[0].job_id}); nothing was {done}.",
            title="Idempotency key reused",
            errors=[{"field": field, "message": "reused with a different body",
                     "type": "idempotency_conflict"}],
        )  # fmt: skip
    return [c.job_id for c in created], all(c.status == "existing" for c in created)


def schedule(
    request: Request[Any], queue: str, messages: Sequence[SmsCreate | EmailCreate]
) -> tuple[list[str], bool]:
    """Create a job per message, all or none; (job ids in order, whether all were replays)."""
    where = "messages." if len(messages) > 1 else None
    jobs = _new_jobs(request, queue, messages)
    return create_all(jobs, where=where, field="Idempotency-Key", done="scheduled")


def scheduled_one(
    request: Request[Any], queue: str, message: SmsCreate | EmailCreate, text: str
) -> Response:
    """``202 {success, jobId, message}`` (a replayed idempotent request answers the same)."""
    ids, replayed = schedule(request, queue, [message])
    headers = {"idempotent-replayed": "true"} if replayed else {}
    return Response(ScheduledResponse(job_id=ids[0], message=text), status=202, headers=headers)


def scheduled_bulk(
    request: Request[Any], queue: str, messages: Sequence[SmsCreate | EmailCreate]
) -> Response:
    """``202 {success, jobIds, count}``."""
    ids, replayed = schedule(request, queue, messages)
    headers = {"idempotent-replayed": "true"} if replayed else {}
    return Response(BulkScheduledResponse(job_ids=ids, count=len(ids)), status=202, headers=headers)


def visible_job(request: Request[Any]) -> Job:
    """The job named by the ``jobId`` path parameter, if the caller's organisation owns it:
    the id the service gave it, or the ``jobId`` the client chose when creating it."""
    job_id = request.path_params.get("jobId", "")
    principal = request.principal
    store = JobStore()
    job = store.get(job_id) if job_id else None
    if principal is not None and (job is None or principal.org not in (job.org, SERVICE_ORG)):
        chosen = store.id_for(idempotency_scope(principal.org), job_id) if job_id else None
        job = store.get(chosen) if chosen else None
    if job is None or principal is None or (principal.org not in (job.org, SERVICE_ORG)):
        raise Problem(404, f"No job {job_id!r}.")
    return job


#: Per action: the states it applies to, and its past tense.
_ACTIONS = {
    "cancel": ("delayed or waiting", "cancelled"),
    "reschedule": ("delayed", "rescheduled"),
    "promote": ("delayed", "promoted"),
}


def _refused(job_id: str, action: str, state: str) -> Problem:
    allowed, done = _ACTIONS[action]
    return Problem(409, f"Job {job_id} is {state}; only a {allowed} job can be {done}.")


def cancel(request: Request[Any]) -> JobAction:
    job = visible_job(request)
    outcome = JobStore().cancel(job.id)
    if outcome == "missing":
        raise Problem(404, f"No job {job.id!r}.")
    if outcome != "cancelled":
        raise _refused(job.id, "cancel", outcome)
    return JobAction(job_id=job.id, state="cancelled")


def reschedule(
    request: Request[Any], due_ms: int | None = None, *, delay_ms: int | None = None
) -> JobAction:
    """Move a delayed job to ``due_ms`` (epoch ms), or ``delay_ms`` after Redis' now (both
    ``None``: now, i.e. promote)."""
    job = visible_job(request)
    at = now_ms()
    store = JobStore()
    outcome = store.reschedule(job.id, due_ms, delay_ms=delay_ms or 0)
    if outcome == "missing":
        raise Problem(404, f"No job {job.id!r}.")
    if outcome not in ("delayed", "waiting"):
        raise _refused(job.id, "promote" if due_ms is None else "reschedule", outcome)
    moved = store.get(job.id)
    due = moved.scheduled_for if moved else (due_ms or at)
    return JobAction(job_id=job.id, state=outcome, scheduled_for=iso_ms(due))


def status(request: Request[Any]) -> JobStatus:
    job = visible_job(request)
    return JobStatus.of(job, logs=progress.logs(job))
