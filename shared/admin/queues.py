"""Queue management behind ``/api/queues``: stats (seed 004's ``getQueueStats`` shape), drain,
clean and retry-failed. Pause and resume are ``shared.jobs.control``. Admin routes only
(``auth="admin"``): these act on every organisation's jobs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.http import Problem
from shared.jobs.queues import JOB_QUEUES
from shared.jobs.store import JobStore

#: Most jobs one clean script call deletes (a request's ``limit`` is taken in such batches).
CLEAN_BATCH = 1000

#: States whose jobs can be cleaned, and what their age is measured from: finishing
#: (completed, failed), becoming ready (waiting), the due time (delayed). Running jobs cannot.
CleanState = Literal["completed", "failed", "waiting", "delayed"]


class QueueStats(BaseModel):
    """Seed 004's ``getQueueStats`` shape, plus whether the queue is paused."""

    queueName: str
    waiting: int
    active: int
    completed: int
    failed: int
    delayed: int
    paused: bool


class QueueList(BaseModel):
    success: Literal[True] = True
    queues: list[QueueStats]


class CleanBody(BaseModel):
    """``POST /api/queues/{name}/clean``: BullMQ's ``clean(grace, limit, state)``."""

    model_config = ConfigDict(extra="forbid")
    state: CleanState
    graceMs: int = Field(0, ge=0)  #: only jobs older than this many ms (0: all of the state)
    limit: int = Field(1000, ge=1, le=100_000)  #: most jobs deleted by this request


class Cleaned(BaseModel):
    success: Literal[True] = True
    queue: str
    state: CleanState
    removed: int


class Drained(BaseModel):
    success: Literal[True] = True
    queue: str
    #: jobs deleted per state: ``waiting``, and ``delayed`` with ``?delayed=true``
    removed: dict[str, int]


class Retried(BaseModel):
    success: Literal[True] = True
    queue: str
    retried: int  #: failed jobs made waiting again, each with a fresh set of attempts


def known_queue(name: str) -> str:
    """``name`` when it is a job queue; 404 naming the queues otherwise."""
    if name not in {spec.name for spec in JOB_QUEUES}:
        known = ", ".join(spec.name for spec in JOB_QUEUES)
        raise Problem(404, f"No queue {name!r}; the queues are {known}.")
    return name


def stats(names: list[str] | None = None, store: JobStore | None = None) -> list[QueueStats]:
    """Each named queue's stats (default: every job queue), from one pipeline."""
    store = store or JobStore()
    names = names if names is not None else [spec.name for spec in JOB_QUEUES]
    states = ("waiting", "active", "completed", "failed", "delayed")
    pipe = store.client.pipeline(transaction=False)
    for name in names:
        for state in states:
            pipe.zcard(store.qkey(name, "jobs", state))
        pipe.exists(store.qkey(name, "paused"))
    replies = iter(pipe.execute())
    out = []
    for name in names:
        counts = {state: int(next(replies)) for state in states}
        out.append(QueueStats(queueName=name, paused=bool(next(replies)), **counts))
    return out


def clean(name: str, state: CleanState, grace_ms: int, limit: int) -> int:
    """Delete up to ``limit`` of ``name``'s jobs in ``state`` older than ``grace_ms``, in
    batches of ``CLEAN_BATCH``; how many."""
    store, removed = JobStore(), 0
    while removed < limit:
        batch = min(CLEAN_BATCH, limit - removed)
        n = store.clean(name, state, older_than_ms=grace_ms, limit=batch)
        removed += n
        if n < batch:
            break
    return removed


def flag(query: dict[str, str], name: str) -> bool:
    """A boolean query parameter: ``true``/``1``/``yes`` or ``false``/``0``/``no`` (absent:
    false); 422 otherwise."""
    value = query.get(name, "false").strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise Problem(422, f"Query parameter {name!r} must be true or false, not {value!r}.")
