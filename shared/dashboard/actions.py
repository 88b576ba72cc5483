"""The dashboard's actions (``POST /admin/queues/actions/{action}``): per job, per state, per
queue. Each answers what changed and is written to the audit log; the queue-wide ones are
the admin API's own code (``shared.admin.queues``). ``queue-add-job`` loads ``POST /api/jobs``'s
code (its job types, httpx) when it runs, not at the function's cold start."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.admin import queues as admin
from shared.dashboard import audit
from shared.dashboard.access import Viewer
from shared.dashboard.search import SEARCH_WINDOW, known_queue, logical_queue, search
from shared.http import Problem, Request
from shared.http.problems import validation_problem
from shared.jobs.queues import physical_names
from shared.jobs.store import JobStore, NewJob
from shared.settings import ADMIN_ORG, ApiKey

if TYPE_CHECKING:
    from shared.general_jobs.schemas import JobCreate

#: Most jobs one "promote all delayed" or filtered "retry all failed" request moves.
BULK_MAX = SEARCH_WINDOW


class SearchFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workspaceId: str = ""
    contactId: str = ""
    q: str = ""


class ActionBody(BaseModel):
    """What an action names: a job, or a queue (and a state, a delay, data, a filter)."""

    model_config = ConfigDict(extra="forbid")
    jobId: str = ""
    queue: str = ""
    state: str = ""
    delayMs: int = Field(60_000, ge=1, le=400 * 86_400_000)
    graceMs: int = Field(0, ge=0)
    delayed: bool = False  #: queue-drain: delayed jobs too
    data: dict[str, Any] | None = None  #: job-duplicate: the new job's data (default: the same)
    filter: SearchFilter | None = None  #: queue-retry-failed: only the jobs this search finds
    #: queue-add-job: a ``POST /api/jobs`` body ``{jobType, data, options?}``, checked as there
    job: dict[str, Any] | None = None


class ActionResult(BaseModel):
    success: bool = True
    action: str
    target: str
    message: str
    changed: dict[str, Any]


def _job(body: ActionBody) -> str:
    if not body.jobId:
        raise Problem(422, "This action needs jobId.")
    return body.jobId


def _queue(body: ActionBody) -> str:
    if not body.queue:
        raise Problem(422, "This action needs queue.")
    return known_queue(body.queue)


def _outcome(job_id: str, outcome: str, wanted: set[str], verb: str) -> dict[str, Any]:
    if outcome == "missing":
        raise Problem(404, f"No job {job_id!r}.")
    if outcome not in wanted:
        raise Problem(409, f"Job {job_id!r} is {outcome}: it cannot be {verb}.")
    return {"state": outcome}


def job_retry(body: ActionBody) -> tuple[str, dict[str, Any]]:
    job_id = _job(body)
    _outcome(job_id, JobStore().admin_job("retry", job_id), {"retried"}, "retried")
    return job_id, {"state": "waiting"}


def _delayed(store: JobStore, job_id: str, verb: str) -> None:
    """404 for no such job, 409 unless it is delayed (only a delayed job moves in time)."""
    job = store.get(job_id)
    _outcome(job_id, job.state if job else "missing", {"delayed"}, f"{verb} (only a delayed job)")


def job_remove(body: ActionBody) -> tuple[str, dict[str, Any]]:
    job_id = _job(body)
    changed = _outcome(job_id, JobStore().admin_job("remove", job_id), {"removed"}, "removed")
    return job_id, changed


def job_promote(body: ActionBody) -> tuple[str, dict[str, Any]]:
    job_id, store = _job(body), JobStore()
    _delayed(store, job_id, "promoted")
    outcome = store.reschedule(job_id, delay_ms=0)
    return job_id, _outcome(job_id, outcome, {"waiting"}, "promoted")


def job_reschedule(body: ActionBody) -> tuple[str, dict[str, Any]]:
    job_id, store = _job(body), JobStore()
    _delayed(store, job_id, "rescheduled")
    outcome = store.reschedule(job_id, delay_ms=body.delayMs)
    changed = _outcome(job_id, outcome, {"delayed"}, "rescheduled")
    return job_id, {**changed, "delayMs": body.delayMs}


def job_duplicate(body: ActionBody) -> tuple[str, dict[str, Any]]:
    job_id = _job(body)
    store = JobStore()
    job = store.get(job_id)
    if job is None:
        raise Problem(404, f"No job {job_id!r}.")
    queue = logical_queue(job.queue)
    created = store.create(
        NewJob(
            queue=queue, actor=queue, data=job.data if body.data is None else body.data,
            due_ms=0, delay_ms=0, max_attempts=job.max_attempts, options=job.options,
            workspace_id=job.workspace_id, contact_id=job.contact_id, org=job.org,
            priority=job.priority,
        )
    )  # fmt: skip
    return job_id, {"newJobId": created.job_id}


def queue_pause(body: ActionBody) -> tuple[str, dict[str, Any]]:
    queue = _queue(body)
    admin.set_paused(queue, True)
    return queue, {"paused": True}


def queue_resume(body: ActionBody) -> tuple[str, dict[str, Any]]:
    queue = _queue(body)
    return queue, {"paused": False, "dispatchedJobs": admin.set_paused(queue, False)}


def queue_drain(body: ActionBody) -> tuple[str, dict[str, Any]]:
    queue = _queue(body)
    return queue, {"removed": admin.drain(queue, delayed=body.delayed)}


def queue_clean(body: ActionBody) -> tuple[str, dict[str, Any]]:
    queue = _queue(body)
    if body.state not in ("completed", "failed", "waiting"):
        raise Problem(422, "clean takes state completed, failed or waiting.")
    removed = admin.clean(queue, body.state, body.graceMs, 100_000)  # type: ignore[arg-type]
    return queue, {"state": body.state, "removed": removed}


def queue_retry_failed(body: ActionBody) -> tuple[str, dict[str, Any]]:
    queue = _queue(body)
    f = body.filter
    if f is None or not (f.workspaceId or f.contactId or f.q):
        return queue, {"retried": admin.retry_failed(queue)}
    store, found, cursor, seen = JobStore(), [], "", 0
    while seen < BULK_MAX:  # the failed jobs the current search finds, then retried
        page = search(
            queue=queue, state="failed", workspace_id=f.workspaceId, contact_id=f.contactId,
            q=f.q, limit=200, cursor=cursor, store=store,
        )  # fmt: skip
        found += [job.id for job in page.jobs]
        seen += page.search.scanned if page.search else len(page.jobs)
        if page.nextCursor is None or page.source == "id":
            break
        cursor = page.nextCursor
    retried = sum(store.admin_job("retry", job_id) == "retried" for job_id in found)
    return queue, {"retried": retried, "filter": f.model_dump(exclude_defaults=True)}


def queue_promote_delayed(body: ActionBody) -> tuple[str, dict[str, Any]]:
    queue = _queue(body)
    store, promoted = JobStore(), 0
    for name in physical_names(queue):
        ids = store.client.zrange(store.qkey(name, "jobs", "delayed"), 0, BULK_MAX - 1)
        promoted += sum(store.reschedule(str(i), delay_ms=0) == "waiting" for i in ids)
    return queue, {"promoted": promoted, "most": BULK_MAX}


def queue_add_job(body: ActionBody) -> tuple[str, dict[str, Any]]:
    """A new job, exactly as ``POST /api/jobs`` makes it (same checks, inline answers and
    ``jobId`` rules), owned by the admin organisation."""
    from shared.general_jobs.create import create_one
    from shared.general_jobs.schemas import JobCreate

    if body.job is None:
        raise Problem(422, "queue-add-job needs job: {jobType, data, options?}.")
    try:
        job = JobCreate.model_validate(body.job)
    except ValidationError as exc:
        raise validation_problem(exc) from None
    request: Request[JobCreate] = Request(
        method="POST", path="/api/jobs", headers={}, query={}, path_params={}, raw_body=b"",
        request_id="", principal=ApiKey(ADMIN_ORG, ""), body=job,
    )  # fmt: skip
    answer = create_one(request).body
    doc = answer.model_dump(mode="json", by_alias=True) if isinstance(answer, BaseModel) else {}
    doc.pop("success", None)
    return str(doc.get("queue") or body.queue or job.job_type), doc


ACTIONS: dict[str, Callable[[ActionBody], tuple[str, dict[str, Any]]]] = {
    "job-retry": job_retry,
    "job-remove": job_remove,
    "job-promote": job_promote,
    "job-reschedule": job_reschedule,
    "job-duplicate": job_duplicate,
    "queue-pause": queue_pause,
    "queue-resume": queue_resume,
    "queue-drain": queue_drain,
    "queue-clean": queue_clean,
    "queue-retry-failed": queue_retry_failed,
    "queue-promote-delayed": queue_promote_delayed,
    "queue-add-job": queue_add_job,
}


def run(viewer: Viewer, action: str, body: ActionBody) -> ActionResult:
    """Run ``action`` for ``viewer`` (already checked: admin, same site, CSRF), audit it."""
    fn = ACTIONS.get(action)
    if fn is None:
        raise Problem(404, f"No action {action!r}; the actions are {', '.join(ACTIONS)}.")
    target, changed = fn(body)
    audit.record(viewer.name, action, target, changed)
    summary = ", ".join(f"{k}: {v}" for k, v in changed.items())
    return ActionResult(action=action, target=target, message=f"{action} {target}: {summary}",
                        changed=changed)  # fmt: skip
