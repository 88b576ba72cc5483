"""The AI jobs API (seed LaunchKit): ``/v1/jobs/{type}``, ``/v1/jobs/{id}``, ``/v1/jobs``,
``/v1/usage``.

Jobs live in the job store on queue ``ai-jobs`` (3 attempts, exponential back-off from 2 s)
and belong to the API key's organisation: another organisation's job is a 404, listings only
show one's own. A job's record:

``{id, type, status: QUEUED|PROCESSING|SUCCEEDED|FAILED, input: {text, options}, output,
tokenUsed, costCents, provider, model, attempts, error, createdAt, startedAt, completedAt}``

With ``options.webhookUrl`` (an allowed host, like every user-given URL), the finished record
is POSTed there (signed, 5 attempts) by a ``webhooks`` job created in the same step as the
outcome. Usage (jobs, tokens, cents) is summed per organisation and type as jobs finish.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter, ValidationError

from shared.ai import parse_options
from shared.http import Problem, Request
from shared.http.auth import sees_every_org
from shared.http.problems import field_errors, invalid_fields
from shared.jobs.queues import QUEUES
from shared.jobs.store import Finish, FollowUp, Job, JobStore, NewJob, now_ms
from shared.schemas import DEFAULT_PRIORITY, AiText, Priority, iso_ms

QUEUE = "ai-jobs"
WEBHOOKS_QUEUE = "webhooks"
#: The job types of ``POST /v1/jobs/{type}``.
JOB_TYPES = ("summarize", "classify", "sentiment", "translate", "extract")
#: The API's status per job-store state.
STATUS = {
    "delayed": "QUEUED",
    "waiting": "QUEUED",
    "active": "PROCESSING",
    "completed": "SUCCEEDED",
    "failed": "FAILED",
}
#: Job-store states per API status (for listings filtered by status).
STATES = {
    status: tuple(s for s, mapped in STATUS.items() if mapped == status)
    for status in set(STATUS.values())
}
#: Options every type takes besides its own.
COMMON_OPTIONS = ("webhookUrl", "priority")
#: ``options.priority`` as given in JSON: an integer (not a string or a boolean) from 1 to 10.
_STRICT_PRIORITY: TypeAdapter[int] = TypeAdapter(Annotated[Priority, Strict()])
MAX_PAGE = 100


class AiJobCreate(BaseModel):
    """Body of ``POST /v1/jobs/{type}``."""

    model_config = ConfigDict(extra="ignore")
    text: AiText
    options: dict[str, Any] | None = None


class Page(BaseModel):
    """Query of ``GET /v1/jobs``."""

    model_config = ConfigDict(extra="ignore")
    limit: int = Field(20, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0)
    status: str | None = None
    type: str | None = None


def _org(request: Request[Any]) -> str:
    assert request.principal is not None
    return request.principal.org


def _job_type(request: Request[Any]) -> str:
    job_type = request.path_params.get("type", "").lower()
    if job_type not in JOB_TYPES:
        raise Problem(404, f"No job type {job_type!r}; the types are {', '.join(JOB_TYPES)}.")
    return job_type


def _options(job_type: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """``given`` checked: the type's own options (``shared.ai``), ``webhookUrl``, ``priority``."""
    given = dict(given or {})
    common = {k: given.pop(k) for k in COMMON_OPTIONS if k in given}
    errors = []
    try:
        own = parse_options(job_type, given).model_dump(  # type: ignore[arg-type]
            mode="json", by_alias=True, exclude_none=True, exclude={"task"}
        )
    except ValidationError as exc:
        own = {}
        errors += [e | {"field": f"options.{e['field']}"} for e in field_errors(exc)]
    url = common.get("webhookUrl")
    if url is not None:
        from shared.delivery.netguard import UnsafeUrl, check_callback_url  # httpx: see schemas

        try:
            check_callback_url(str(url))
        except UnsafeUrl as exc:
            errors.append(
                {"field": "options.webhookUrl", "message": str(exc), "type": "unsafe_url"}
            )
    try:
        _STRICT_PRIORITY.validate_python(common.get("priority", DEFAULT_PRIORITY))
    except ValidationError as exc:
        errors += [e | {"field": "options.priority"} for e in field_errors(exc)]
    if errors:
        raise invalid_fields(errors)
    return own | common


def record(job: Job) -> dict[str, Any]:
    """The API's view of an AI job."""
    result = job.result if isinstance(job.result, dict) else {}
    finished = job.state in ("completed", "failed")
    return {
        "id": job.id,
        "type": str(job.data["type"]).upper(),
        "status": STATUS[job.state],
        "input": {"text": job.data["text"], "options": job.data.get("options") or {}},
        "output": result.get("output") if job.state == "completed" else None,
        "tokenUsed": result.get("totalTokens", 0),
        "costCents": result.get("costCents", 0),
        "provider": result.get("provider"),
        "model": result.get("model"),
        "attempts": job.attempts,
        "error": job.error if job.state == "failed" else None,
        "createdAt": iso_ms(job.created_at),
        "startedAt": iso_ms(job.started_at),
        "completedAt": iso_ms(job.finished_at) if finished else None,
    }


def create(request: Request[AiJobCreate]) -> dict[str, Any]:
    """Queue one AI job of the path's type; its record."""
    job_type = _job_type(request)
    options = _options(job_type, request.body.options)
    org = _org(request)
    spec = QUEUES[QUEUE]
    store = JobStore()
    created = store.create(
        NewJob(
            queue=QUEUE,
            actor=spec.actor,
            data={"type": job_type, "text": request.body.text, "options": options},
            due_ms=now_ms(),
            max_attempts=spec.max_attempts,
            org=org,
            priority=options.get("priority", DEFAULT_PRIORITY),
            indexes=(
                f"org:{org}:{QUEUE}",
                f"org:{org}:{QUEUE}:{job_type}",
                # every organisation's, for SERVICE_TOKEN
                f"all:{QUEUE}",
                f"all:{QUEUE}:{job_type}",
            ),
        )
    )
    job = store.get(created.job_id)
    assert job is not None
    return record(job)


def visible(request: Request[Any]) -> Job:
    """The AI job of the ``id`` path parameter, if the caller's organisation owns it (any
    organisation's, for ``SERVICE_TOKEN``)."""
    job_id = request.path_params.get("id", "")
    job = JobStore().get(job_id) if job_id else None
    if job is None or job.queue != QUEUE:
        raise Problem(404, f"No job {job_id!r}.")
    if job.org != _org(request) and not sees_every_org(request.principal):
        raise Problem(404, f"No job {job_id!r}.")
    return job


def listing(request: Request[Any]) -> dict[str, Any]:
    """``GET /v1/jobs``: the organisation's jobs (every organisation's, for ``SERVICE_TOKEN``),
    newest first, filtered and paged."""
    try:
        page = Page.model_validate(request.query)
    except ValidationError as exc:
        raise Problem(400, "Bad query: " + "; ".join(
            f"{e['field']}: {e['message']}" for e in field_errors(exc)
        )) from None  # fmt: skip
    org = _org(request)
    index = f"all:{QUEUE}" if sees_every_org(request.principal) else f"org:{org}:{QUEUE}"
    if page.type:
        if page.type.lower() not in JOB_TYPES:
            raise Problem(400, f"Bad query: type must be one of {', '.join(JOB_TYPES)}.")
        index += f":{page.type.lower()}"
    states: tuple[str, ...] = ()
    if page.status:
        states = STATES.get(page.status.upper(), ())
        if not states:
            raise Problem(400, f"Bad query: status must be one of {', '.join(sorted(STATES))}.")
    store = JobStore()
    ids, total = store.ids_in(
        index, states=states, queue=QUEUE, offset=page.offset, limit=page.limit
    )
    jobs = [job for job in map(store.get, ids) if job is not None]
    return {
        "success": True,
        "jobs": [record(job) for job in jobs],
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
    }


def usage(request: Request[Any]) -> dict[str, Any]:
    """``GET /v1/usage``: jobs, tokens and cents per type for the caller's organisation."""
    org = _org(request)
    raw = JobStore().usage(org)
    by_type: dict[str, dict[str, float]] = {}
    for field, value in raw.items():
        kind, _, measure = field.rpartition(":")
        by_type.setdefault(kind, {"jobs": 0, "tokens": 0, "costCents": 0.0})[measure] = (
            float(value) if measure == "costCents" else int(value)
        )
    for figures in by_type.values():
        figures["costCents"] = round(figures["costCents"], 6)
    total = {
        "jobs": sum(int(f["jobs"]) for f in by_type.values()),
        "tokens": sum(int(f["tokens"]) for f in by_type.values()),
        "costCents": round(sum(f["costCents"] for f in by_type.values()), 6),
    }
    return {"success": True, "org": org, "byType": by_type, "total": total}


def on_final(finish: Finish, at_ms: int) -> list[FollowUp]:
    """The webhook of a finished AI job (``options.webhookUrl``): its final record."""
    url = (finish.job.data.get("options") or {}).get("webhookUrl")
    if not url:
        return []
    done = replace(
        finish.job,
        state=finish.outcome,  # type: ignore[arg-type]
        result=finish.result,
        error=finish.error,
        finished_at=at_ms,
    )
    return [FollowUp(WEBHOOKS_QUEUE, {"url": url, "payload": record(done)})]
