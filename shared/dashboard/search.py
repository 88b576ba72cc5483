"""``GET /api/admin/jobs``: one queue's jobs by state, workspace, contact, job id or text.

Every lookup reads an index the job store keeps, never the keyspace: a state's sorted set, a
workspace's or a contact's listing index (``shared.jobs.indexes``; on a split queue the one
sub-queue that holds the workspace), or the job id itself (it names its queue). Text search
(``q``) and the filters an index does not cover (``state`` with a workspace, ``org``) read the
records of at most ``SEARCH_WINDOW`` jobs per request, newest first, and say so in
``search``; ``nextCursor`` goes on from where a request stopped.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel

from shared.dashboard.paging import Item, Pager
from shared.http import Problem
from shared.jobs.indexes import contact_index, workspace_index
from shared.jobs.keys import queue_key
from shared.jobs.queues import JOB_QUEUES, QUEUES, SUBQUEUES, physical_names, queue_of, sub_queue
from shared.jobs.store import STATES, JobStore
from shared.settings import SERVICE_ORG, settings

#: Most job records one request reads for text search or a filter, newest first.
SEARCH_WINDOW = 10_000
#: Records read per round trip while scanning.
SCAN_CHUNK = 500
MAX_LIMIT = 200
_FIELDS = (
    "id", "queue", "actor", "state", "data", "attempts", "maxAttempts", "createdAt",
    "scheduledFor", "startedAt", "finishedAt", "enqueuedAt", "ws", "ct", "org",
)  # fmt: skip
Source = Literal["state", "workspace", "contact", "id"]


class JobSummary(BaseModel):
    """One job as a list shows it; times are epoch ms."""

    id: str
    queue: str  #: the queue as configured (a split queue's name, not its sub-queue's)
    state: str
    type: str  #: the job type (``jobType``/``type`` of its data), else its queue's actor
    workspaceId: str
    contactId: str
    org: str
    createdAt: int
    scheduledFor: int  #: when it is (or was) due
    attempts: int
    maxAttempts: int
    stateSince: int | None  #: when it entered its state, when known


class SearchInfo(BaseModel):
    """How a filtered or text search went: it reads records, so it is bounded."""

    text: str
    scanned: int  #: job records read by this request
    window: int  #: the most this request would read
    complete: bool  #: every job of the index was read (none left past ``scanned``)
    note: str


class JobPage(BaseModel):
    success: Literal[True] = True
    queue: str | None
    source: Source
    jobs: list[JobSummary]
    nextCursor: str | None
    search: SearchInfo | None = None


def logical_queue(name: str) -> str:
    """The configured queue a physical (sub-)queue name belongs to."""
    spec = QUEUES.get(name)
    return spec.part_of or name if spec else name


def known_queue(name: str) -> str:
    """``name`` when it names a job queue (or a sub-queue); 404 listing them otherwise."""
    if name in SUBQUEUES or name in {spec.name for spec in JOB_QUEUES}:
        return name
    raise Problem(404, f"No queue {name!r}; the queues are {', '.join(SUBQUEUES)}.")


def summary(raw: dict[str, str], since: int | None = None) -> JobSummary:
    """A stored record as a list row."""
    data: Any = json.loads(raw.get("data") or "{}")
    kind = data.get("jobType") or data.get("type") if isinstance(data, dict) else None
    state = raw.get("state", "")
    if since is None:
        field = {"completed": "finishedAt", "failed": "finishedAt", "active": "startedAt",
                 "waiting": "enqueuedAt"}.get(state)  # fmt: skip
        value = raw.get(field or "") or (raw.get("finishedAt") or raw.get("createdAt"))
        since = int(value) if value else None
    return JobSummary(
        id=raw["id"], queue=logical_queue(raw.get("queue", "")), state=state,
        type=str(kind or raw.get("actor", "")), workspaceId=raw.get("ws", ""),
        contactId=raw.get("ct", ""), org=raw.get("org", ""),
        createdAt=int(raw.get("createdAt") or 0), scheduledFor=int(raw.get("scheduledFor") or 0),
        attempts=int(raw.get("attempts") or 0), maxAttempts=int(raw.get("maxAttempts") or 1),
        stateSince=since,
    )  # fmt: skip


def _searchable(raw: dict[str, str]) -> str:
    """A record's data as text search reads it: its JSON, case-folded, with escapes (non-ASCII
    characters, quotes) written out as the characters they stand for."""
    data = raw.get("data", "")
    if "\\" in data:  # stored as ASCII JSON: decode what it escapes
        data = json.dumps(json.loads(data), ensure_ascii=False).replace('\\"', '"')
    return data.casefold()


def _records(store: JobStore, queue_names: list[str], items: list[Item]) -> list[dict[str, str]]:
    pipe = store.client.pipeline(transaction=False)
    for item in items:
        pipe.hmget(queue_key(queue_names[item.source], "job", item.member), _FIELDS)
    return [
        {k: v for k, v in zip(_FIELDS, values, strict=True) if v is not None}
        for values in pipe.execute()
    ]


#: A job id: its queue's code (one letter, or two for a sub-queue) and a ULID.
JOB_ID = re.compile(r"[A-Z][a-z]?[0-9A-HJKMNP-TV-Z]{26}")


def _by_id(store: JobStore, job_id: str, queue: str | None) -> JobPage:
    """The job ``job_id`` names, when it exists (and is ``queue``'s, when given)."""
    named = queue_of(job_id)
    empty = JobPage(queue=queue, source="id", jobs=[], nextCursor=None)
    if named is None or (queue and logical_queue(named) != logical_queue(queue)):
        return empty
    values = store.client.hmget(queue_key(named, "job", job_id), _FIELDS)
    raw = {k: str(v) for k, v in zip(_FIELDS, values, strict=True) if v is not None}
    if not raw:
        return empty
    return JobPage(queue=logical_queue(named), source="id", jobs=[summary(raw)], nextCursor=None)


def known_orgs() -> list[str]:
    """The organisations whose jobs a search without ``org`` looks at: every ``API_KEYS``
    organisation, ``SERVICE_TOKEN``'s and none (``""``: jobs the service made for no
    organisation). An organisation since removed from ``API_KEYS`` is found with ``org=``."""
    return sorted({key.org for key in settings.parsed_api_keys()} | {SERVICE_ORG, ""})


def search(
    *,
    queue: str = "",
    state: str = "",
    workspace_id: str = "",
    contact_id: str = "",
    q: str = "",
    org: str = "",
    limit: int = 50,
    cursor: str = "",
    store: JobStore | None = None,
) -> JobPage:
    """One page of jobs; see the module docstring. 404 for an unknown queue, 422 for a query
    no index answers."""
    store = store or JobStore()
    q = q.strip()
    if not 1 <= limit <= MAX_LIMIT:
        raise Problem(422, f"limit must be 1 to {MAX_LIMIT}, not {limit}.")
    if state and state not in STATES:
        raise Problem(422, f"state must be one of {', '.join(STATES)}, not {state!r}.")
    if JOB_ID.fullmatch(q):
        return _by_id(store, q, queue or None)
    if not queue:
        raise Problem(422, "Give the queue (queue=...), or a job id as q.")
    known_queue(queue)
    if contact_id and not workspace_id:
        raise Problem(422, "A contact is searched within its workspace: give workspaceId too.")
    source: Source
    if workspace_id:
        home = sub_queue(queue, workspace_id) if queue in SUBQUEUES else queue
        indexes = [  # one per organisation: an index never mixes two organisations' jobs
            contact_index(each, workspace_id, contact_id)
            if contact_id
            else workspace_index(each, workspace_id)
            for each in ([org] if org else known_orgs())
        ]
        keys = [queue_key(home, "idx", index) for index in indexes]
        names = [home] * len(keys)  # the queue each key's jobs live in
        source = "contact" if contact_id else "workspace"
    elif state:
        names = physical_names(queue)
        keys = [queue_key(name, "jobs", state) for name in names]
        source = "state"
    else:
        raise Problem(422, "Give a state, a workspaceId (and contactId) or a job id to search.")
    pager = Pager.start(
        store.client, keys, cursor, ascending=source == "state" and state == "delayed"
    )
    want_state = state if source != "state" else ""
    text = q.casefold()
    org_filter = org if source == "state" else ""  # a workspace's indexes are per organisation
    filtered = bool(want_state or org_filter or text)
    jobs: list[JobSummary] = []
    scanned = 0
    while len(jobs) < limit and not pager.done and (not filtered or scanned < SEARCH_WINDOW):
        n = min(SCAN_CHUNK, SEARCH_WINDOW - scanned) if filtered else limit - len(jobs)
        items = pager.peek(n)
        records = _records(store, names, items) if items else []
        taken: list[Item] = []
        for item, raw in zip(items, records, strict=True):
            taken.append(item)
            scanned += 1
            if not raw.get("id"):
                continue  # removed since the index was read
            if want_state and raw.get("state") != want_state:
                continue
            if org_filter and raw.get("org") != org_filter:
                continue
            if text and text not in _searchable(raw) and text not in raw["id"].casefold():
                continue
            since = int(item.score) if source == "state" and state != "delayed" else None
            jobs.append(summary(raw, since))
            if len(jobs) >= limit:
                break
        pager.advance(taken)
    info = None
    if filtered:
        what = f"text {q!r}" if text else "the filter"
        info = SearchInfo(
            text=q, scanned=scanned, window=SEARCH_WINDOW, complete=pager.done,
            note=f"Searched {what} in the {scanned} most recent jobs of this {source} index "
            f"from the cursor on (at most {SEARCH_WINDOW} per request)"
            + ("." if pager.done else "; nextCursor searches further back."),
        )  # fmt: skip
    return JobPage(queue=queue, source=source, jobs=jobs, nextCursor=pager.cursor(), search=info)
