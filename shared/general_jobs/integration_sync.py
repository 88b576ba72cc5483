"""``integration-sync`` (seed 002): page through your app's sync of HubSpot, Salesforce or Google
Sheets until it is done, resuming where the last attempt stopped.

Each page is one signed ``POST {APP_API_URL}{INTEGRATION_SYNC_ENDPOINT}`` of ``{jobId, provider,
workspaceId, cursor, page}`` (``webhook-id`` ``<jobId>.page.<n>``, the same on a retry of that
page); your app syncs that page and answers ``{nextCursor, synced?, total?, done?}``. A null or
absent ``nextCursor`` (or ``done: true``) ends the sync. After every page the job stores its
progress ``{page, cursor, synced, total, percent, done}``, the page and cursor to fetch next: a
retry (after an error, a time-out or a worker's death) starts from there, so pages already
synced are not fetched again. A worker that is stopping hands the job back after the page in
hand, unattempted, and another worker goes on from there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from shared.delivery.app_api import app_url, call_app
from shared.jobs.data import JobData, job_data, report, request_data
from shared.jobs.runner import HandBack, JobFailed
from shared.jobs.stopping import stopping
from shared.jobs.store import Job
from shared.schemas import Identifier
from shared.settings import settings

#: The integrations a sync may name.
Provider = Literal["hubspot", "salesforce", "google-sheets"]
#: Most pages one sync fetches (a guard against an app that never says it is done).
MAX_PAGES = 100_000
#: Longest cursor accepted, in characters.
MAX_CURSOR_CHARS = 2_048

Cursor = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CURSOR_CHARS)]


class IntegrationSync(JobData):
    """The job's data: ``{provider, workspaceId, cursor?}`` (``cursor``: where to start)."""

    provider: Provider
    workspace_id: Identifier
    cursor: Cursor | None = None


def inline(data: Any, org: str) -> None:
    """The job API's hook (``QueueSpec.inline``): validate the data (422), then queue it."""
    request_data(IntegrationSync, data)


def _start(job: Job, request: IntegrationSync) -> dict[str, Any]:
    """Where this attempt starts: the progress the last one stored, else page 1 at ``cursor``."""
    stored = job.progress
    if isinstance(stored, dict) and isinstance(stored.get("page"), int):
        return stored
    return {"page": 1, "cursor": request.cursor, "synced": 0, "done": False}


def _page(answer: Any, url: str) -> tuple[str | None, int, int | None]:
    """(next cursor or None when done, items synced, total or None) of one page's answer."""
    if not isinstance(answer, dict):
        raise JobFailed(f"{url} answered no JSON object", retryable=False)
    cursor = answer.get("nextCursor")
    if answer.get("done") is True or cursor in (None, ""):
        cursor = None
    elif not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
        raise JobFailed(f"{url} answered an invalid nextCursor", retryable=False)
    synced = answer.get("synced")
    total = answer.get("total")

    def count(value: Any) -> int | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return value if ok else None

    return cursor, count(synced) or 0, count(total)


def process(job: Job) -> dict[str, Any]:
    """Sync page after page from the stored progress until the app says done."""
    request = job_data(IntegrationSync, job)
    state = _start(job, request)
    url = app_url(settings.integration_sync_endpoint)
    if state["page"] > 1:
        job.log(f"resuming at page {state['page']}")
    while not state.get("done"):
        page, cursor = int(state["page"]), state.get("cursor")
        if page > MAX_PAGES:
            raise JobFailed(f"more than {MAX_PAGES} pages: the sync never ended", retryable=False)
        payload = {"jobId": job.id, "provider": request.provider,
                   "workspaceId": request.workspace_id, "cursor": cursor, "page": page}  # fmt: skip
        answer = call_app("POST", url, message_id=f"{job.id}.page.{page}", payload=payload)
        next_cursor, synced, total = _page(answer, url)
        if next_cursor is not None and next_cursor == cursor:
            raise JobFailed(f"page {page} answered its own cursor again", retryable=False)
        total_synced = int(state.get("synced") or 0) + synced
        total = total if total is not None else state.get("total")  # or an earlier page's
        state = {"page": page + 1, "cursor": next_cursor, "synced": total_synced,
                 "done": next_cursor is None}  # fmt: skip
        if total is not None:
            state["total"] = total
            state["percent"] = min(100, state["synced"] * 100 // total) if total else 100
        if state["done"]:
            state["percent"] = 100
        report(job, state, f"page {page}: {synced} synced")
        if not state["done"] and stopping():  # the worker is stopping: another one goes on
            raise HandBack()
    return {"provider": request.provider, "pages": int(state["page"]) - 1,
            "synced": state.get("synced", 0)}  # fmt: skip
