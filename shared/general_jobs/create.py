"""Creating general jobs from validated ``POST /api/jobs`` bodies: the job type's queue, its
data check, its inline answer, and the job (all or none for a bulk body)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.cron.admin import run_now
from shared.general_jobs.bulk_availability import BulkAvailabilityCheck
from shared.general_jobs.integration_sync import IntegrationSync
from shared.general_jobs.schemas import (
    BulkJobCreate,
    GeneralJobOptions,
    JobCreate,
    JobCreated,
    JobSyncResult,
    TrackEvent,
)
from shared.general_jobs.types import CRON_JOB_TYPES, queue_for
from shared.http import Problem, Request, Response
from shared.http.auth import sees_every_org
from shared.http.problems import field_errors, invalid_fields
from shared.jobs.queues import QueueSpec, resolve
from shared.jobs.store import NewJob, fingerprint, idempotency_scope
from shared.scheduling import IDEMPOTENCY_KEY, create_all
from shared.schemas import DEFAULT_PRIORITY, BulkScheduledResponse

#: Per queue: the model its jobs' ``data`` must satisfy (other queues take any JSON object).
DATA_MODELS: dict[str, type[BaseModel]] = {
    "analytics": TrackEvent,
    "bulk-availability": BulkAvailabilityCheck,
    "integration-sync": IntegrationSync,
}


def _check_data(spec: QueueSpec, data: dict[str, Any], where: str) -> None:
    model = DATA_MODELS.get(spec.name)
    if model is None:
        return
    try:
        model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        for error in errors:
            error["field"] = f"{where}data.{error['field']}"
        raise invalid_fields(errors) from None


def _workspace(data: dict[str, Any]) -> str:
    value = data.get("workspaceId")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()[:200]


def _idempotency_header(request: Request[Any]) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise Problem(400, "Idempotency-Key must be 1-255 printable ASCII characters.")
    return key


def new_job(request: Request[Any], spec: QueueSpec, job: JobCreate, key: str | None) -> NewJob:
    """The job to store for ``job`` (``key``: its client-chosen id, if any)."""
    assert request.principal is not None
    options = job.options or GeneralJobOptions()
    stored = {**options.stored(), "jobType": job.job_type}
    org = request.principal.org
    request_print = {
        "jobType": job.job_type,
        "data": job.data,
        "options": options.model_dump(mode="json"),
    }
    return NewJob(
        queue=spec.name,
        actor=spec.actor,
        data=job.data,
        due_ms=0,
        delay_ms=round(options.delay or 0),
        max_attempts=options.attempts or spec.max_attempts,
        options=stored,
        workspace_id=_workspace(job.data),
        org=org,
        priority=options.priority or DEFAULT_PRIORITY,
        idempotency=(idempotency_scope(org), key, fingerprint(request_print)) if key else None,
    )


def _store(jobs: list[NewJob], where: str | None) -> tuple[list[str], bool]:
    """Create ``jobs`` (one queue) all or none; (ids in order, whether all were replays)."""
    return create_all(jobs, where=where, field="options.jobId", done="queued")


def _run_cron(request: Request[JobCreate], name: str) -> Response:
    """Seed 002's cron job types: run the cron function ``name`` now (``SERVICE_TOKEN``)."""
    if not sees_every_org(request.principal):
        raise Problem(
            403,
            f"jobType {request.body.job_type!r} runs the cron function {name!r} for every "
            "organisation: it needs SERVICE_TOKEN, not an organisation's API key.",
        )
    return Response(run_now(name), status=202)


def create_one(request: Request[JobCreate]) -> Response:
    """``202 {success, jobId, jobType, queue}``; ``200 {…, mode: "sync", result}`` when the
    queue's ``inline`` answered at once."""
    body = request.body
    assert request.principal is not None
    if body.job_type in CRON_JOB_TYPES:
        return _run_cron(request, CRON_JOB_TYPES[body.job_type])
    spec = queue_for(body.job_type)
    _check_data(spec, body.data, "")
    if spec.inline:
        result = resolve(spec.inline)(body.data, request.principal.org)
        if result is not None:
            return Response(JobSyncResult(job_type=body.job_type, result=result))
    key = body.client_job_id or _idempotency_header(request)
    ids, replayed = _store([new_job(request, spec, body, key)], None)
    headers = {"idempotent-replayed": "true"} if replayed else {}
    created = JobCreated(job_id=ids[0], job_type=body.job_type, queue=spec.name)
    return Response(created, status=202, headers=headers)


def create_bulk(request: Request[BulkJobCreate]) -> Response:
    """``202 {success, jobIds, count}``: every job queued, or none (one queue per body)."""
    jobs: Sequence[JobCreate] = request.body.jobs
    specs = [queue_for(str(job.job_type), f"jobs.{i}.jobType") for i, job in enumerate(jobs)]
    if len({spec.name for spec in specs}) > 1:
        first = specs[0].name
        other = next(i for i, spec in enumerate(specs) if spec.name != first)
        raise invalid_fields([{
            "field": f"jobs.{other}.jobType",
            "message": f"is of queue {specs[other].name!r}, not {first!r}: one bulk request "
                       "writes one queue's jobs (all or none)",
            "type": "mixed_queues",
        }])  # fmt: skip
    header = _idempotency_header(request)
    new = []
    for index, (spec, job) in enumerate(zip(specs, jobs, strict=True)):
        _check_data(spec, job.data, f"jobs.{index}.")
        key = job.client_job_id or (f"{header}#{index}" if header else None)
        new.append(new_job(request, spec, job, key))
    ids, replayed = _store(new, "jobs.")
    headers = {"idempotent-replayed": "true"} if replayed else {}
    return Response(BulkScheduledResponse(job_ids=ids, count=len(ids)), status=202, headers=headers)
