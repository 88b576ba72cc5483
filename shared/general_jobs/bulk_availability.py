"""``bulk-availability-check`` (seed 002): which leads can be reached, from their fresh data.

The job holds only lead ids (``{leadIds, userId, workspaceId}``): the data is fetched from your
app by id when the check runs (``GET {APP_API_URL}{LEADS_ENDPOINT}?ids=a,b,c``, at most
``LEADS_PER_REQUEST`` per request), so Redis never holds lead data and the check sees the
current state. A lead needs at least one of a valid email or phone number (seed: leads may be
incomplete, but one of the two is required).

Up to ``SYNC_LEAD_LIMIT`` ids are checked at once in the API call (``inline``), the results in
its answer; more are queued, and the worker posts the results to
``{APP_API_URL}{BULK_AVAILABILITY_RESULTS_ENDPOINT}`` (signed), reporting progress as it goes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import httpx
from pydantic import BeforeValidator, Field, StringConstraints

from shared.delivery.app_api import app_url, call_app
from shared.delivery.send import deliver
from shared.http import Problem
from shared.jobs.data import JobData, job_data, report, request_data
from shared.jobs.keys import ulid
from shared.jobs.runner import JobFailed
from shared.jobs.store import Job
from shared.schemas import Identifier
from shared.settings import settings

#: At most this many ids are checked synchronously, in the API call (the seed's threshold).
SYNC_LEAD_LIMIT = 10
#: Most lead ids one job may carry.
MAX_LEAD_IDS = 10_000
#: Ids per request to your app's lead endpoint.
LEADS_PER_REQUEST = 100
#: How long a check made in the API call waits for your app, in seconds (connect: 2 s): the
#: call holds a gateway worker meanwhile.
SYNC_TIMEOUT_S = 5.0


def _int_to_str(value: Any) -> Any:
    """A numeric id (``42``, not ``true``) as its text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


#: A lead id: printable, no comma or space (ids travel comma-separated in a query string); a
#: JSON integer is taken as its digits.
LeadId = Annotated[
    str,
    BeforeValidator(_int_to_str),
    StringConstraints(min_length=1, max_length=64, pattern=r"^[!-+\--~]+$"),
]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_DIGITS = re.compile(r"\d")


class BulkAvailabilityCheck(JobData):
    """The job's data: ``{leadIds, userId, workspaceId}`` (seed 002)."""

    lead_ids: list[LeadId] = Field(min_length=1, max_length=MAX_LEAD_IDS)
    user_id: Identifier
    workspace_id: Identifier

    def unique_ids(self) -> list[str]:
        """The ids in order, each once."""
        return list(dict.fromkeys(self.lead_ids))


def check_lead(lead_id: str, lead: dict[str, Any] | None) -> dict[str, Any]:
    """One lead's result: ``{leadId, available, email, phone, reason}`` (``email``/``phone``:
    whether it has a usable one; ``reason`` says why not available, else null)."""
    if lead is None:
        return {"leadId": lead_id, "available": False, "email": False, "phone": False,
                "reason": "lead not found"}  # fmt: skip
    email = isinstance(lead.get("email"), str) and bool(_EMAIL.match(lead["email"].strip()))
    phone_value = lead.get("phone") or lead.get("phoneNumber")
    digits = len(_PHONE_DIGITS.findall(phone_value)) if isinstance(phone_value, str) else 0
    phone = 7 <= digits <= 15
    reason = None if email or phone else "needs a valid email or phone number"
    return {"leadId": lead_id, "available": email or phone, "email": email, "phone": phone,
            "reason": reason}  # fmt: skip


def summarize(results: list[dict[str, Any]]) -> dict[str, int]:
    """Counts: ``{checked, available, unavailable, notFound}``."""
    available = sum(1 for r in results if r["available"])
    missing = sum(1 for r in results if r["reason"] == "lead not found")
    return {"checked": len(results), "available": available,
            "unavailable": len(results) - available, "notFound": missing}  # fmt: skip


def fetch_leads(
    ids: list[str], *, message_id: str, timeout: httpx.Timeout | None = None
) -> dict[str, dict[str, Any]]:
    """Your app's current data for ``ids``, by id. It answers ``{"leads": [...]}`` or a list;
    each lead names its id as ``id`` or ``_id``; an id it leaves out is "not found"."""
    url = app_url(settings.leads_endpoint)
    query = {"ids": ",".join(ids)}
    answer = call_app("GET", url, message_id=message_id, params=query, timeout=timeout)
    leads = answer.get("leads") if isinstance(answer, dict) else answer
    if not isinstance(leads, list):
        raise JobFailed(f"{url} answered no list of leads", retryable=False)
    wanted = set(ids)
    found: dict[str, dict[str, Any]] = {}
    for lead in leads:
        if isinstance(lead, dict):
            lead_id = str(lead.get("id", lead.get("_id", "")))
            if lead_id in wanted:
                found[lead_id] = lead
    return found


def check(
    ids: list[str], *, message_id: str, timeout: httpx.Timeout | None = None
) -> list[dict[str, Any]]:
    """Fetch and check ``ids`` (at most ``LEADS_PER_REQUEST``), in order."""
    leads = fetch_leads(ids, message_id=message_id, timeout=timeout)
    return [check_lead(lead_id, leads.get(lead_id)) for lead_id in ids]


def inline(data: Any, org: str) -> dict[str, Any] | None:
    """The job API's hook (``QueueSpec.inline``): validate; check up to ``SYNC_LEAD_LIMIT``
    leads now and answer ``{results, summary}`` (the job API's synchronous ``result``); None
    queues the job.
    Touches no Redis, so it answers the same while Redis is down."""
    request = request_data(BulkAvailabilityCheck, data)
    ids = request.unique_ids()
    if len(ids) > SYNC_LEAD_LIMIT:
        return None
    try:
        timeout = httpx.Timeout(SYNC_TIMEOUT_S, connect=2.0)
        results = check(ids, message_id=f"sync-{ulid()}", timeout=timeout)
    except JobFailed as exc:
        raise Problem(502, f"Your app's lead endpoint failed: {exc.error}") from None
    return {"results": results, "summary": summarize(results)}


def process(job: Job) -> dict[str, Any]:
    """The queued check: fetch and check the leads page by page, reporting progress, then
    post every result to your app; the job keeps only the summary."""
    request = job_data(BulkAvailabilityCheck, job)
    ids = request.unique_ids()
    results: list[dict[str, Any]] = []
    for page, first in enumerate(range(0, len(ids), LEADS_PER_REQUEST)):
        chunk = ids[first : first + LEADS_PER_REQUEST]
        results += check(chunk, message_id=f"{job.id}.leads.{page}")
        done = {"checked": len(results), "total": len(ids),
                "percent": len(results) * 100 // len(ids)}  # fmt: skip
        report(job, done, f"checked {len(results)}/{len(ids)}")
    summary = summarize(results)
    payload = {"jobId": job.id, "userId": request.user_id, "workspaceId": request.workspace_id,
               "results": results, "summary": summary}  # fmt: skip
    delivered = deliver(job, app_url(settings.bulk_availability_results_endpoint), payload)
    return {"summary": summary, "delivery": delivered}
