"""Queue management behind ``/api/queues``: stats (seed 004's ``getQueueStats`` shape), drain,
clean and retry-failed. Pause and resume are ``shared.jobs.control``. Admin routes only
(``auth="admin"``): these act on every organisation's jobs.

A queue is named as users know it (``sms``); a queue split into sub-queues (``QUEUE_SHARDS``)
is counted and managed as a whole, one sub-queue after the other. A sub-queue's own name
(``sms.0``) is accepted too."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.http import Problem
from shared.jobs.queues import JOB_QUEUES, SUBQUEUES, physical_names
from shared.jobs.store import JobStore

#: Most jobs one clean script call deletes (a request's ``limit`` is taken in such batches).
CLEAN_BATCH = 1000

#: States whose jobs can be cleaned, and what their age is measured from: finishing
#: (completed, failed), becoming ready (waiting). Running jobs cannot be cleaned; delayed ones
#: are indexed by due time, not age: ``drain?delayed=true`` removes them.
CleanState = Literal["completed", "failed", "waiting"]


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
    """``name`` when it is a job queue (or a sub-queue); 404 naming the queues otherwise."""
    if name not in SUBQUEUES and name not in {spec.name for spec in JOB_QUEUES}:
        raise Problem(404, f"No queue {name!r}; the queues are {', '.join(SUBQUEUES)}.")
    return name


def stats(names: list[str] | None = None, store: JobStore | None = None) -> list[QueueStats]:
    """Each named queue's stats (default: every job queue), summed over its sub-queues, from
    one pipeline; a split queue is paused when all of its sub-queues are."""
    store = store or JobStore()
    names = names if names is not None else list(SUBQUEUES)
    states = ("waiting", "active", "completed", "failed", "delayed")
    pipe = store.client.pipeline(transaction=False)
    for name in names:
        for each in physical_names(name):
            for state in states:
                pipe.zcard(store.qkey(each, "jobs", state))
            pipe.exists(store.qkey(each, "paused"))
    replies = iter(pipe.execute())
    out = []
    for name in names:
        counts, paused = dict.fromkeys(states, 0), True
        for _ in physical_names(name):
            for state in states:
                counts[state] += int(next(replies))
            paused = paused and bool(next(replies))
        out.append(QueueStats(queueName=name, paused=paused, **counts))
    return out


def drain(name: str, *, delayed: bool) -> dict[str, int]:
    """``JobStore.drain`` on each of ``name``'s sub-queues; jobs deleted per state."""
    store, removed = (
        JobStore(),
        dict.fromkeys(("waiting", "delayed") if delayed else ("waiting",), 0),
    )
    for each in physical_names(name):
        for state, n in store.drain(each, delayed=delayed).items():
            removed[state] += n
    return removed


def retry_failed(name: str) -> int:
    """``JobStore.retry_failed`` on each of ``name``'s sub-queues; how many jobs."""
    store = JobStore()
    return sum(store.retry_failed(each) for each in physical_names(name))


def set_paused(name: str, paused: bool) -> int:
    """Pause or resume every sub-queue of ``name``; on resume, how many jobs were dispatched."""
    store = JobStore()
    if paused:
        for each in physical_names(name):
            store.pause(each)
        return 0
    return sum(store.resume(each) for each in physical_names(name))


def clean(name: str, state: CleanState, grace_ms: int, limit: int) -> int:
    """Delete up to ``limit`` of ``name``'s jobs in ``state`` older than ``grace_ms``, sub-queue
    after sub-queue, in batches of ``CLEAN_BATCH``; how many."""
    store, removed = JobStore(), 0
    for each in physical_names(name):
        while removed < limit:
            batch = min(CLEAN_BATCH, limit - removed)
            n = store.clean(each, state, older_than_ms=grace_ms, limit=batch)
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
