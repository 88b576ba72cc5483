"""The job store: one Redis hash per job, per-state indexes, and atomic Lua transitions.

Every key of a queue carries its hash tag (``<prefix>:{<queue>}:…``, see ``keys.py``) and every
script runs on one queue's keys, declared in ``KEYS``: the same code runs on one Redis and on
Redis Cluster. Delayed jobs and retry back-offs wait in a sorted set scored by due time,
never in Dramatiq's in-memory delay queue (see DESIGN.md); ``promote_due`` makes due ones
ready atomically. Ready jobs wait in the service's own lines (per priority, per workspace) and
are dispatched to Dramatiq only as the queue's limits allow (``_lib.lua``), so priorities,
round robin across workspaces, pause and rate/concurrency limits hold for waiting jobs, and a
job held back is never counted as failed or retried. Every transition checks the job's current
message id, so a stale or duplicated Dramatiq message can neither start nor finish a job twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import redis
from pydantic_core import to_json
from redis.cluster import RedisCluster

from shared.jobs.indexes import search_indexes
from shared.jobs.keys import new_job_id, now_ms, queue_key, tag
from shared.jobs.queues import (
    FAILURE_NOTICES_QUEUE,
    JOB_QUEUES,
    QUEUES,
    SUBQUEUES,
    lua_config,
    physical_names,
    queue_of,
    sub_queue,
)
from shared.redis_client import get_redis, run_script, script, server_time_ms
from shared.settings import settings

LUA_DIR = Path(__file__).with_name("lua")

#: The states a job reports (``GET /api/job-status``).
JobState = Literal["delayed", "waiting", "active", "completed", "failed"]
STATES: tuple[JobState, ...] = ("delayed", "waiting", "active", "completed", "failed")

__all__ = ["new_job_id", "now_ms"]  # re-exported: callers make ids and read the host clock here


def fingerprint(payload: Any) -> str:
    """A stable hash of a request, to tell a retried request from a different one."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Job:
    """A job record as stored."""

    id: str
    queue: str
    actor: str
    state: JobState
    data: dict[str, Any]
    options: dict[str, Any]
    attempts: int
    max_attempts: int
    created_at: int
    scheduled_for: int
    started_at: int | None = None
    finished_at: int | None = None
    result: Any = None
    error: str | None = None
    workspace_id: str = ""
    contact_id: str = ""
    message_id: str = ""  #: the Dramatiq message currently allowed to run this job
    org: str = ""  #: the organisation of the API key that created it
    priority: int = 5  #: 1 (first) to 10
    #: what the job last reported (``update_progress``), as of this attempt's start: a number
    #: 0-100 or a JSON object; None before any report
    progress: Any = None

    def update_progress(self, value: Any) -> bool:
        """Report progress (0-100, or a JSON object up to 16 KB) from this job's processor;
        False when the job is no longer this attempt's. See ``shared.jobs.progress``."""
        from shared.jobs import progress

        return progress.update_progress(self, value)

    def log(self, line: object) -> bool:
        """Add one line to this job's log (the last 100 lines are kept, each cut to 1,024
        UTF-8 bytes); False when the job is no longer this attempt's. See
        ``shared.jobs.progress``."""
        from shared.jobs import progress

        return progress.log(self, line)

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Job:
        def opt_int(name: str) -> int | None:
            return int(raw[name]) if raw.get(name) else None

        return cls(
            id=raw["id"],
            queue=raw["queue"],
            actor=raw["actor"],
            state=raw["state"],  # type: ignore[arg-type]
            data=json.loads(raw["data"]),
            options=json.loads(raw.get("opts") or "{}"),
            attempts=int(raw.get("attempts", 0)),
            max_attempts=int(raw.get("maxAttempts", 1)),
            created_at=int(raw["createdAt"]),
            scheduled_for=int(raw["scheduledFor"]),
            started_at=opt_int("startedAt"),
            finished_at=opt_int("finishedAt"),
            result=json.loads(raw["result"]) if raw.get("result") else None,
            error=raw.get("error") or None,
            workspace_id=raw.get("ws", ""),
            contact_id=raw.get("ct", ""),
            message_id=raw.get("msg", ""),
            org=raw.get("org", ""),
            priority=int(raw.get("prio") or 5),
            progress=json.loads(raw["progress"]) if raw.get("progress") else None,
        )


#: The record fields ``Job.from_hash`` reads.
JOB_FIELDS = (
    "id", "queue", "actor", "state", "data", "opts", "attempts", "maxAttempts", "createdAt",
    "scheduledFor", "startedAt", "finishedAt", "result", "error", "ws", "ct", "msg", "org", "prio",
    "progress",
)  # fmt: skip


@dataclass(frozen=True)
class Skipped:
    """A job of a message that is not to be run (cancelled, finished, or re-enqueued since)."""

    job_id: str
    reason: str


@dataclass(frozen=True)
class Wait:
    """A job whose rate-limit slot frees in ``ms`` milliseconds: start it again then."""

    job_id: str
    ms: int


#: How an attempt ended: ``requeue`` hands an unattempted job back (its attempt not counted).
Outcome = Literal["completed", "failed", "delayed", "requeue"]


@dataclass(frozen=True)
class Promotion:
    """What one queue's promotion pass did (``JobStore.promote_due_many``)."""

    moved: int  #: jobs made ready or staged
    next_due_in_ms: int | None  #: until its next held message or delayed job is due; None: none

    @classmethod
    def of(cls, reply: list[Any]) -> Promotion:
        moved, next_in = (int(v) for v in reply)
        return cls(moved, None if next_in < 0 else next_in)


@dataclass(frozen=True)
class FollowUp:
    """A job to create when another one finishes: a failure notice, a webhook. It is written
    to the finished job's queue's outbox in the same step, then created in ``queue`` (which
    runs its processor on ``data``) by the scheduler (``drain_outbox``)."""

    queue: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """What a finished job cost, added to its organisation's totals (``GET /v1/usage``)."""

    kind: str  #: e.g. the AI job type
    tokens: int
    cost_cents: float


@dataclass(frozen=True)
class Finish:
    """How one attempt ended, for ``finish_many``."""

    job: Job
    outcome: Outcome
    result: Any = None
    error: str | None = None
    due_ms: int = 0  #: when ``delayed``: the next try, epoch ms
    #: when ``delayed``: the next try this many ms after Redis' now (wins over ``due_ms``)
    delay_ms: int | None = None
    #: when ``completed`` or ``failed``: jobs to create (written to the outbox in the same step)
    follow_ups: tuple[FollowUp, ...] = ()
    usage: Usage | None = None  #: when ``completed`` or ``failed``
    #: the HTTP calls this attempt made (``shared.jobs.calls``), kept in the job's history
    calls: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class NewJob:
    """What it takes to create a job."""

    queue: str
    actor: str
    data: dict[str, Any]
    due_ms: int  #: when it is due, epoch ms (the past: now); see ``delay_ms``
    max_attempts: int
    options: dict[str, Any] = field(default_factory=dict)
    #: due this many ms after Redis' own now (one clock for every host); wins over ``due_ms``
    delay_ms: int | None = None
    workspace_id: str = ""
    contact_id: str = ""
    org: str = ""  #: the organisation of the API key that created it
    #: 1 (first) to 10: among a queue's waiting jobs, the lowest number starts first
    priority: int = 5
    #: listing indexes to add the job to (``ids_in``), e.g. an organisation's AI jobs
    indexes: tuple[str, ...] = ()
    #: (scope, key, fingerprint): a second create with the same scope and key returns the
    #: first job; with another fingerprint it is a conflict.
    idempotency: tuple[str, str, str] | None = None
    #: the id to give it (a follow-up's, chosen when its cause finished); None: a new one
    job_id: str | None = None


@dataclass(frozen=True)
class Created:
    """The outcome for one job of a create call."""

    job_id: str  #: the new job, or the earlier one its idempotency key names
    status: Literal["created", "existing", "conflict"]
    index: int = 0  #: position in the create call


@functools.cache
def _script(name: str, shebang: bool) -> Any:
    """The Lua script ``name`` (with ``_lib.lua`` prepended), built once per process; with
    ``shebang`` (Redis 7+) it starts ``#!lua``, so Redis itself refuses any access to a key
    outside the declared keys' slot.

    A redis-py ``Script`` runs by SHA on whichever client it is called with, loading itself
    on a server that has not seen it.
    """
    source = (LUA_DIR / "_lib.lua").read_text() + "\n" + (LUA_DIR / f"{name}.lua").read_text()
    return script(("#!lua\n" if shebang else "") + source)


@functools.cache
def _plain_script(name: str, shebang: bool) -> Any:
    """The standalone Lua script ``name`` (without ``_lib.lua``), built once per process."""
    return script(("#!lua\n" if shebang else "") + (LUA_DIR / f"{name}.lua").read_text())


#: What ``due_look.lua`` reads of each queue: its ready counter, held messages, delayed jobs.
_LOOKED_AT = ("ready", "mq:held", "jobs:delayed")


@functools.lru_cache(maxsize=64)
def _look_keys(prefix: str, queues: tuple[str, ...]) -> list[str]:
    """``due_look.lua``'s keys for ``queues`` under ``prefix`` (built once: every tick asks)."""
    return [queue_key(queue, suffix) for queue in queues for suffix in _LOOKED_AT]


def _head(queue: str, at_ms: int | None) -> list[Any]:
    """Every script's leading arguments (see ``_lib.lua``): the queue, its limits, the clock
    ("": Redis' own; a number fixes it, tests only)."""
    return [queue, lua_config(queue), "" if at_ms is None else at_ms]


@functools.cache
def _speaks_shebang(client: Any) -> bool:
    """Whether the server behind ``client`` is Redis 7+ (scripts may carry ``#!lua``)."""
    return shebang_in(client.info("server"))


def shebang_in(info: dict[str, Any]) -> bool:
    """Whether ``INFO server`` (of one server, or per node of a cluster) names Redis 7+."""
    if info and "redis_version" not in info:  # a cluster client: one entry per node
        info = next(iter(info.values()))
    return int(str(info.get("redis_version", "0")).split(".")[0]) >= 7


class JobStore:
    """Job records and their transitions, on the configured Redis under ``REDIS_PREFIX``."""

    def __init__(self, client: redis.Redis | None = None) -> None:
        self.client = client or get_redis()
        self.prefix = settings.redis_prefix

    def _run(self, name: str, queue: str, *args: Any, at_ms: int | None = None) -> Any:
        """Run script ``name`` on ``queue``'s keys with the common head (see ``_lib.lua``),
        then ``args``.

        The script reads the time from Redis (``TIME``); ``at_ms`` fixes it (tests only).
        """
        head = _head(queue, at_ms)
        script = _script(name, _speaks_shebang(self.client))
        return run_script(self.client, script, [tag(queue)], *head, *args)

    def _run_replicated(self, name: str, queue: str, *args: Any, at_ms: int | None = None) -> Any:
        """``_run``, then ``WAIT`` on the same connection for ``REDIS_WAIT_REPLICAS`` replicas
        (up to ``REDIS_WAIT_TIMEOUT_MS``): the write is acknowledged only once replicated.
        Fewer replicas in time raise ``redis.TimeoutError``: the job is on the primary but
        may be lost in a failover, and the API says so (retry with the same key)."""
        ((client, _),) = self._by_node([queue])
        head = _head(queue, at_ms)
        pipe = client.pipeline(transaction=False)
        _script(name, _speaks_shebang(self.client))(
            keys=[tag(queue)], args=[*head, *args], client=pipe
        )
        wanted, timeout = settings.redis_wait_replicas, settings.redis_wait_timeout_ms
        pipe.execute_command("WAIT", wanted, timeout)
        reply, replicas = pipe.execute()
        if int(replicas) < wanted:
            raise redis.TimeoutError(
                f"written on the primary but acknowledged by {replicas} of {wanted} replicas "
                f"within {timeout} ms"
            )
        return reply

    def qkey(self, queue: str, *parts: str) -> str:
        """A key of ``queue`` (``keys.queue_key``)."""
        return queue_key(queue, *parts)

    def _queue_of(self, job_id: str) -> str | None:
        """The queue of ``job_id``: named by the id, or (an id issued before ids named their
        queue) the queue whose keys hold its record."""
        queue = queue_of(job_id)
        if queue is not None or not job_id:
            return queue
        found = self._per_queue("exists", "job", job_id)
        return next(
            (spec.name for spec, there in zip(JOB_QUEUES, found, strict=True) if there), None
        )

    # -- creating -------------------------------------------------------------------------

    def _job_args(self, job: NewJob) -> list[Any]:
        idem, fp = "", ""
        if job.idempotency:
            scope, key, fp = job.idempotency
            idem = f"{scope}:{key}"
        due = f"+{int(job.delay_ms)}" if job.delay_ms is not None else int(job.due_ms)
        indexes = (*job.indexes, *search_indexes(job.org, job.workspace_id, job.contact_id))
        job_id = job.job_id or new_job_id(QUEUES[job.queue].code)
        return [
            job_id, job.queue, job.actor, due,
            _spread_length(_compact(job.data), job_id),
            _compact(job.options) if job.options else "{}",
            job.max_attempts, job.workspace_id, job.contact_id, idem, fp, job.org,
            job.priority, " ".join(indexes),
        ]  # fmt: skip

    def create_many(self, jobs: list[NewJob], *, at_ms: int | None = None) -> list[Created]:
        """Store every job (all of one queue) or none, in one atomic script call.

        A job whose idempotency key was used before comes back ``existing`` (nothing new is
        written for it); if any such earlier request differed, nothing is written and the
        result is a single ``conflict`` naming the earlier job at that job's position.

        Jobs of a split queue (``QUEUE_SHARDS``) go to their workspace's sub-queue; when they
        span several, every sub-queue is checked for conflicts before any is written, then
        each is written in its own call (a conflicting request racing in between can leave
        the sub-queues written before it).
        """
        queues = {job.queue for job in jobs}
        if len(queues) != 1:
            raise ValueError(f"one create call writes one queue's jobs, not {sorted(queues)}")
        routed = [_routed(job) for job in jobs]
        groups: dict[str, list[int]] = defaultdict(list)
        for i, job in enumerate(routed):
            groups[job.queue].append(i)
        if len(groups) == 1:
            return self._create_in(routed[0].queue, routed, at_ms=at_ms)
        for queue, positions in groups.items():
            group = [routed[i] for i in positions]
            checked = self._create_in(queue, group, at_ms=at_ms, check=True)
            if checked and checked[0].status == "conflict":
                return [replace(checked[0], index=positions[checked[0].index])]
        created: list[Created] = []
        for queue, positions in groups.items():
            outcome = self._create_in(queue, [routed[i] for i in positions], at_ms=at_ms)
            if outcome[0].status == "conflict":
                return [replace(outcome[0], index=positions[outcome[0].index])]
            created += [replace(c, index=positions[c.index]) for c in outcome]
        return sorted(created, key=lambda c: c.index)

    def _create_in(
        self, queue: str, jobs: list[NewJob], *, at_ms: int | None, check: bool = False
    ) -> list[Created]:
        """One create script call on ``queue`` (kept in Redis); ``check``: only look for
        idempotency conflicts, write nothing (an empty list when there are none)."""
        args: list[Any] = [-len(jobs) if check else len(jobs)]
        for job in jobs:
            args += self._job_args(job)
        if settings.redis_wait_replicas and not check:
            reply = self._run_replicated("create", queue, *args, at_ms=at_ms)
        else:
            reply = self._run("create", queue, *args, at_ms=at_ms)
        return created_of(reply)

    def create_groups_call(
        self, queue: str, groups: list[list[NewJob]], *, shebang: bool
    ) -> ScriptCall:
        """The one create script call that writes ``groups`` (routed jobs of the kept queue
        ``queue``, see ``routed_queue``), each group all or none and independent of the
        others; its reply, read by ``created_of_groups``, has one outcome list per group.
        ``shebang``: the server is Redis 7+ (``shebang_in``)."""
        counts = "g:" + ",".join(str(len(group)) for group in groups)
        args: list[Any] = [*_head(queue, None), counts]
        for group in groups:
            for job in group:
                args += self._job_args(job)
        script = _script("create", shebang)
        return ScriptCall(script.sha, script.script, tag(queue), args)

    def create(self, job: NewJob, *, at_ms: int | None = None) -> Created:
        """Store one job: delayed, or ready (and dispatched as its queue's limits allow)."""
        return self.create_many([job], at_ms=at_ms)[0]

    # -- reading --------------------------------------------------------------------------

    def redis_time_ms(self) -> int:
        """Redis' clock, epoch ms: the one clock every time the engine writes comes from."""
        return server_time_ms(self.client)

    def get(self, job_id: str) -> Job | None:
        queue = self._queue_of(job_id)
        if queue is None:
            return None
        raw = self.client.hgetall(queue_key(queue, "job", job_id))
        return Job.from_hash(raw) if raw else None  # type: ignore[arg-type]

    def ids_in(
        self,
        index: str,
        *,
        queue: str,
        states: tuple[str, ...] = (),
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[str], int]:
        """Newest-first ids of ``queue``'s listing index ``index`` (see ``NewJob.indexes``;
        of every sub-queue of a split queue), optionally only those in one of ``states``;
        (one page of ids, how many match in all)."""
        names = physical_names(queue)
        if not states and len(names) == 1:
            key = queue_key(names[0], "idx", index)
            ids = self.client.zrevrange(key, offset, offset + limit - 1)
            return [str(i) for i in ids], int(self.client.zcard(key))
        matched: list[tuple[float, str]] = []
        total = 0
        for name in names:
            key = queue_key(name, "idx", index)
            pairs: list[Any] = []
            if not states:
                pairs += self.client.zrevrange(key, 0, offset + limit - 1, withscores=True)
                total += int(self.client.zcard(key))
            for state in states:  # the intersection with each state index, by creation time
                weights = {key: 1, queue_key(name, "jobs", state): 0}
                pairs += self.client.zinter(weights, withscores=True)
            matched += [(float(score), str(job_id)) for job_id, score in pairs]
        matched.sort(reverse=True)
        return [job_id for _, job_id in matched[offset : offset + limit]], total or len(matched)

    def id_for(self, scope: str, key: str) -> str | None:
        """The job a client-chosen id (``jobId``, ``Idempotency-Key``) of ``scope`` names, in
        whichever queue, while that job exists."""
        found = self._per_queue("hget", "idem", f"{scope}:{key}", field="job")
        return next((str(job_id) for job_id in found if job_id), None)

    def _per_queue(self, command: str, *parts: str, field: str | None = None) -> list[Any]:
        """``command`` on each job queue's key ``parts`` (with ``field``, for a hash), in one
        pipeline: a lookup by an id that names no queue."""
        pipe = self.client.pipeline(transaction=False)
        for spec in JOB_QUEUES:
            name = queue_key(spec.name, *parts)
            getattr(pipe, command)(*((name, field) if field else (name,)))
        return list(pipe.execute())

    def usage(self, org: str) -> dict[str, str]:
        """An organisation's usage totals, summed over the queues that keep them:
        ``{"<kind>:jobs|tokens|costCents": value}``."""
        totals: dict[str, float] = defaultdict(float)
        for spec in JOB_QUEUES:
            raw: dict[str, str] = self.client.hgetall(queue_key(spec.name, "usage", org or "-"))  # type: ignore[assignment]
            for name, value in raw.items():
                totals[name] += float(value)
        return {
            name: str(int(total)) if not name.endswith(":costCents") else repr(total)
            for name, total in totals.items()
        }

    def count(self, queue: str, state: JobState) -> int:
        return int(self.client.zcard(queue_key(queue, "jobs", state)))

    def ids(self, queue: str, state: JobState, *, offset: int = 0, limit: int = 50) -> list[str]:
        """Ids in one state, oldest first (delayed: soonest due first)."""
        key = queue_key(queue, "jobs", state)
        return [str(i) for i in self.client.zrange(key, offset, offset + limit - 1)]

    # -- client actions -------------------------------------------------------------------

    def cancel(self, job_id: str) -> str:
        """``cancelled``, ``missing``, or the state that forbids cancelling."""
        queue = self._queue_of(job_id)
        return str(self._run("cancel", queue, job_id)) if queue else "missing"

    def reschedule(
        self,
        job_id: str,
        due_ms: int | None = None,
        *,
        delay_ms: int | None = None,
        at_ms: int | None = None,
    ) -> str:
        """Move a delayed job to ``due_ms`` (epoch ms) or ``delay_ms`` after Redis' now;
        ``delayed``/``waiting`` (now due), ``missing`` or the state."""
        due = f"+{delay_ms or 0}" if due_ms is None else due_ms
        queue = self._queue_of(job_id)
        return str(self._run("reschedule", queue, job_id, due, at_ms=at_ms)) if queue else "missing"

    def admin_job(self, action: Literal["retry", "remove"], job_id: str) -> str:
        """An admin's ``retry`` (a failed job, fresh attempts) or ``remove`` (any job not
        running) of one job: ``retried`` (now waiting) or ``removed``, ``missing``, or the
        state that forbids it."""
        queue = self._queue_of(job_id)
        return str(self._run("admin_job", queue, action, job_id)) if queue else "missing"

    # -- queue control --------------------------------------------------------------------

    def pause(self, queue: str) -> None:
        """Start no new job of ``queue``; running ones finish, due ones wait in line."""
        self._run("pause", queue, "pause")

    def resume(self, queue: str) -> int:
        """Let ``queue`` run again; how many waiting jobs were handed to workers at once."""
        return int(self._run("pause", queue, "resume"))

    def paused(self) -> set[str]:
        """The queues paused now."""
        return {
            spec.name for spec in JOB_QUEUES if self.client.exists(queue_key(spec.name, "paused"))
        }

    # -- scheduler ------------------------------------------------------------------------

    def promote_due(
        self, queue: str, *, limit: int = 1000, at_ms: int | None = None, ahead_ms: int = 0
    ) -> int:
        """Make up to ``limit`` due delayed jobs ready, then dispatch the queue as its limits
        allow (also when none was due: a limiter window may have moved on); with ``ahead_ms``,
        stage jobs due that soon (see ``promote_due_many``). How many became ready or staged."""
        return self.promote_due_many([queue], limit=limit, at_ms=at_ms, ahead_ms=ahead_ms)[0].moved

    def promote_due_many(
        self,
        queues: list[str],
        *,
        limit: int = 1000,
        at_ms: int | None = None,
        ahead_ms: int = 0,
        group_ms: int = 0,
    ) -> list[Promotion]:
        """``promote_due`` for several queues, pipelined (one round trip per Redis node).

        With ``ahead_ms``, a queue without limits also stages the jobs due within that many
        ms: they go on messages now, each held in Redis until its jobs are due (those due
        within ``group_ms`` of a message's first share it), and such messages whose time has
        come join the queue. A job never starts before its due time, and its due time costs
        Redis one push per message instead of the per-job work (``lua/promote_due.lua``).
        A queue with nothing to do now is only looked at, not sent the script (``_idle_of``)."""
        moved: dict[str, Promotion] = {}
        extra = [limit, ahead_ms, group_ms]
        for client, on_node in self._by_node(queues):
            idle = self._idle_of(client, on_node, ahead_ms=ahead_ms, at_ms=at_ms)
            moved.update(idle)
            group = [queue for queue in on_node if queue not in idle]
            if not group:
                continue
            shebang = _speaks_shebang(self.client)
            pipe = client.pipeline(transaction=False)
            for queue in group:
                args = [*_head(queue, at_ms), *extra]
                _script("promote_due", shebang)(keys=[tag(queue)], args=args, client=pipe)
            try:
                replies = pipe.execute()
            except redis.ResponseError:  # MOVED: the cluster changed under us; one by one
                replies = [self._run("promote_due", q, *extra, at_ms=at_ms) for q in group]
            moved.update(zip(group, map(Promotion.of, replies), strict=True))
        return [moved[queue] for queue in queues]

    def _idle_of(
        self, client: Any, queues: list[str], *, ahead_ms: int, at_ms: int | None
    ) -> dict[str, Promotion]:
        """The queues of ``queues`` (all on ``client``'s node) where ``promote_due`` has nothing
        to do now, each with its next due time: no job in a ready line, no held message due, no
        delayed job due within ``ahead_ms``. The scheduler asks every queue at every tick, and
        this look (``lua/due_look.lua``: one call for all of them on one Redis, one per queue
        on a cluster, whose queues live in different slots) costs a fraction of a
        ``promote_due`` call, in Redis and in the scheduler. A look that fails (a cluster slot
        moved) says none is idle."""
        keys = _look_keys(settings.redis_prefix, tuple(queues))
        look = _plain_script("due_look", _speaks_shebang(self.client))
        if isinstance(self.client, RedisCluster):
            pipe = client.pipeline(transaction=False)
            for i in range(0, len(keys), 3):
                look(keys=keys[i : i + 3], client=pipe)
            try:
                replies = pipe.execute()
            except redis.ResponseError:
                return {}
            now_parts = replies[0][:2]
            values = [value for reply in replies for value in reply[2:]]
        else:
            reply = run_script(client, look, keys)
            now_parts, values = reply[:2], reply[2:]
        now = at_ms if at_ms is not None else int(now_parts[0]) * 1000 + int(now_parts[1]) // 1000
        idle: dict[str, Promotion] = {}
        for i, queue in enumerate(queues):
            ready, held, delayed = values[3 * i : 3 * i + 3]
            held_ms = None if held is None else float(held)
            delayed_ms = None if delayed is None else float(delayed)
            if int(ready) > 0 or (held_ms is not None and held_ms <= now):
                continue
            if delayed_ms is not None and delayed_ms <= now + ahead_ms:
                continue
            dues = [due for due in (held_ms, delayed_ms) if due is not None]
            idle[queue] = Promotion(0, max(0, int(min(dues)) - now) if dues else None)
        return idle

    def _by_node(self, queues: list[str]) -> list[tuple[Any, list[str]]]:
        """``queues`` grouped by the client of the node that holds each (one group, the
        store's own client, on a single Redis)."""
        if not isinstance(self.client, RedisCluster):
            return [(self.client, queues)]
        groups: dict[str, tuple[Any, list[str]]] = {}
        for queue in queues:
            node = self.client.get_node_from_key(tag(queue))
            client = self.client.get_redis_connection(node)
            groups.setdefault(node.name, (client, []))[1].append(queue)
        return list(groups.values())

    def recover(
        self,
        queue: str,
        *,
        alive: list[str],
        notify: bool = False,
        at_ms: int | None = None,
    ) -> list[str]:
        """Re-enqueue (or fail, on the last attempt) active jobs whose worker is not in
        ``alive`` (``liveness.alive("worker")``) or whose lease expired, and jobs a worker has
        held unstarted for ``HEARTBEAT_TTL_S`` (on Redis' clock).

        ``notify``: a job failed this way also queues its failure notice.
        """
        notices = QUEUES[FAILURE_NOTICES_QUEUE]
        stale_ms = int(settings.heartbeat_ttl_s * 1000)
        args = [notices.name if notify else "", notices.max_attempts, stale_ms, *alive]
        return list(self._run("recover", queue, *args, at_ms=at_ms))

    def drain_outbox(self, queue: str, *, limit: int = 100) -> int:
        """Create the follow-up jobs ``queue``'s finished jobs left in its outbox (failure
        notices, webhooks) in their own queues, under the ids chosen when their cause finished,
        then remove them: exactly once, whatever schedulers drain at the same time (a repeat
        finds the job written). How many were handled."""
        outbox = queue_key(queue, "outbox")
        entries = [str(e) for e in self.client.lrange(outbox, 0, limit - 1)]
        by_queue: dict[str, list[NewJob]] = defaultdict(list)
        for entry in entries:
            f = json.loads(entry)
            target = QUEUES[f["queue"]]
            by_queue[target.name].append(
                NewJob(
                    queue=target.name, actor=target.actor, data=json.loads(f["data"]),
                    due_ms=0, delay_ms=0, max_attempts=int(f["max"]), workspace_id=f["ws"],
                    contact_id=f["ct"], org=f["org"], job_id=f["id"],
                )
            )  # fmt: skip
        for jobs in by_queue.values():
            self.create_many(jobs)
        pipe = self.client.pipeline(transaction=False)
        for entry in entries:
            pipe.lrem(outbox, 1, entry)
        pipe.execute()
        return len(entries)

    def clean(
        self,
        queue: str,
        state: JobState,
        *,
        older_than_ms: int,
        limit: int = 1000,
        at_ms: int | None = None,
    ) -> int:
        """Delete up to ``limit`` jobs that entered ``state`` more than ``older_than_ms`` ago
        (Redis' clock)."""
        return int(self._run("clean", queue, state, older_than_ms, limit, at_ms=at_ms))

    def drain(
        self, queue: str, *, delayed: bool = False, batch: int = 1000, at_ms: int | None = None
    ) -> dict[str, int]:
        """Delete ``queue``'s waiting jobs (those waiting when their pass began), and with
        ``delayed`` its delayed ones too, first (so one that became due, or was staged on a
        held message, during that pass is waiting by the next), ``batch`` per script call;
        running jobs are left alone. How many were deleted per state."""
        removed: dict[str, int] = {"delayed": 0} if delayed else {}
        removed["waiting"] = 0
        for state in removed:
            until: int | str = ""
            while True:
                n, left, until = self._run("drain", queue, state, until, batch, at_ms=at_ms)
                removed[state] += int(n)
                if int(n) < batch or int(left) == 0:
                    break
        return removed

    def retry_failed(self, queue: str, *, batch: int = 1000, at_ms: int | None = None) -> int:
        """Make every job of ``queue`` that had failed when the call began waiting again, with
        a fresh set of attempts, ``batch`` per script call; how many."""
        retried, until = 0, ""
        while True:
            n, left, until = self._run("retry_failed", queue, until, batch, at_ms=at_ms)
            retried += int(n)
            if int(left) == 0:
                return retried

    # -- worker ---------------------------------------------------------------------------

    def start_many(
        self, job_ids: list[str], message_id: str, worker: str
    ) -> list[Job | Skipped | Wait]:
        """Mark each job of this message active for a new attempt, in one round trip, started
        at Redis' clock.

        A job cancelled, finished, or moved to another message since comes back ``Skipped``;
        so does one its queue's limits (or a pause) hold back: it waits for the next slot in
        line. One whose rate slot frees within moments comes back ``Wait``: ask again then.
        """
        queue = self._queue_of(job_ids[0]) if job_ids else None
        if queue is None:
            return [Skipped(job_id, "gone") for job_id in job_ids]
        reply = self._run("start", queue, message_id, worker, *job_ids, "--", *JOB_FIELDS)
        out: list[Job | Skipped | Wait] = []
        for entry in reply:
            if entry[1] == "skip":
                out.append(Skipped(entry[0], entry[2]))
            elif entry[1] == "wait":
                out.append(Wait(entry[0], int(entry[2])))
            else:
                out.append(Job.from_hash(dict(zip(JOB_FIELDS, entry[2:], strict=True))))
        return out

    def start(self, job_id: str, message_id: str, worker: str) -> Job | str:
        """``start_many`` for one job: the job, or why not now (a skip reason, or ``wait``)."""
        (started,) = self.start_many([job_id], message_id, worker)
        if isinstance(started, Skipped):
            return started.reason
        return "wait" if isinstance(started, Wait) else started

    def send_slot(self, job: Job, member: str) -> int:
        """Take a slot in ``job``'s queue's send window for one request (``member``: unique
        per write); 0 when taken, else the ms until one frees."""
        return int(self._run("send_slot", job.queue, job.workspace_id, member))

    def finish_many(self, finishes: list[Finish], *, at_ms: int | None = None) -> int:
        """Record how attempts ended, in one round trip per queue (a worker message holds one
        queue's jobs); how many were still theirs to finish."""
        by_queue: dict[str, list[Any]] = defaultdict(list)
        for f in finishes:
            result = "" if f.result is None else _compact(f.result)
            due = f"+{f.delay_ms}" if f.delay_ms is not None else f.due_ms
            args = by_queue[f.job.queue]
            args += [f.job.id, f.job.message_id, f.outcome, due, result, f.error or ""]
            args.append(_finish_extras(f))
        return sum(int(self._run("finish", q, *a, at_ms=at_ms)) for q, a in by_queue.items())

    def finish(
        self,
        job: Job,
        outcome: Outcome,
        *,
        result: Any = None,
        error: str | None = None,
        due_ms: int = 0,
        at_ms: int | None = None,
    ) -> bool:
        """Record how this attempt ended; False when the job moved on without it."""
        return bool(self.finish_many([Finish(job, outcome, result, error, due_ms)], at_ms=at_ms))


def _routed(job: NewJob) -> NewJob:
    """``job`` bound for the queue kept in Redis: the sub-queue of its workspace when its queue
    is split (else its id's, or its idempotency key's, so a retried create finds it; else any),
    with that sub-queue's actor."""
    subs = SUBQUEUES.get(job.queue)
    if not subs or len(subs) == 1:
        return job
    named = queue_of(job.job_id) if job.job_id else None
    if named in {sub.name for sub in subs}:
        target = str(named)
    else:
        idem = ":".join(job.idempotency[:2]) if job.idempotency else ""
        target = sub_queue(job.queue, job.workspace_id or idem or os.urandom(8).hex())
    actor = QUEUES[target].actor if job.actor == QUEUES[job.queue].actor else job.actor
    return replace(job, queue=target, actor=actor)


#: Blanks after a long JSON text (JSON ignores them), 0-15 by its job id's last digit. Redis
#: runs Lua 5.1, which hashes a string longer than 32 bytes from a sample of its characters and
#: compares strings of equal length byte by byte when their hashes collide: a create call of
#: 1,000 similar bodies (a campaign's messages that differ in a phone number) walked long
#: chains of equal-length strings, 8.5 µs per body; with lengths spread over 16 values, a
#: create costs Redis 19 instead of 29 µs per job.
_BLANKS = tuple(" " * n for n in range(16))


def _spread_length(text: str, job_id: str) -> str:
    """``text`` with the job's blanks when Lua would hash it from a sample (see ``_BLANKS``)."""
    return text + _BLANKS[ord(job_id[-1]) & 15] if len(text) > 32 else text


def _compact(value: Any) -> str:
    """Compact JSON of ``value``, UTF-8 as is, by pydantic-core's encoder (0.6 against json's
    3.7 µs for a job's data); ``NaN`` and infinities as JavaScript spells them, as ``json``
    does by default."""
    return to_json(value).decode()


def _finish_extras(finish: Finish) -> str:
    """``finish.lua``'s extras of one job: follow-ups, usage, keep policy and the attempt's
    calls, as JSON; "" for none."""
    extras: dict[str, Any] = {}
    if finish.follow_ups:
        route = finish.job.workspace_id or finish.job.id
        targets = [QUEUES[sub_queue(f.queue, route)] for f in finish.follow_ups]
        extras["followUps"] = [
            {"id": new_job_id(target.code), "queue": target.name, "data": _compact(f.data),
             "max": target.max_attempts}
            for f, target in zip(finish.follow_ups, targets, strict=True)
        ]  # fmt: skip
    if finish.calls:
        extras["calls"] = list(finish.calls)
    if finish.usage:
        u = finish.usage
        extras["usage"] = {"kind": u.kind, "tokens": u.tokens, "costCents": u.cost_cents}
    if finish.outcome in ("completed", "failed"):
        option = "removeOnComplete" if finish.outcome == "completed" else "removeOnFail"
        if keep := keep_policy(finish.job.options.get(option)):
            extras["keep"] = keep
    return _compact(extras) if extras else ""


def keep_policy(option: Any) -> dict[str, int] | None:
    """A ``removeOnComplete``/``removeOnFail`` option (BullMQ's) as ``finish.lua`` reads it:
    ``true`` -> ``{count: 0}`` (delete at once), a number N -> ``{count: N}`` (keep the newest
    N), ``{age (seconds), count}`` as given; ``false``/absent -> None (queue retention only)."""
    if option is True:
        return {"count": 0}
    if isinstance(option, int) and not isinstance(option, bool):
        return {"count": option}
    if isinstance(option, dict):
        return {
            name: int(option[name]) for name in ("age", "count") if option.get(name) is not None
        }
    return None


def idempotency_scope(org: str) -> str:
    """The scope idempotency keys and client-chosen job ids (``jobId``) live in: the
    organisation, so every API key of one organisation shares them, and no other sees them."""
    return f"org.{org or '-'}"


@dataclass(frozen=True)
class ScriptCall:
    """One job-store script call, to send on any client (an asynchronous one too):
    ``EVALSHA sha 1 key *args``, or ``EVAL source 1 key *args`` on a server without it."""

    sha: str
    source: str
    key: str
    args: list[Any]


def created_of(reply: list[Any]) -> list[Created]:
    """The outcomes of one group from the create script's reply for it."""
    if reply and reply[0] == "conflict":
        return [Created(reply[2], "conflict", int(reply[1]) - 1)]
    return [
        Created(job_id, status, i)
        for i, (status, job_id) in enumerate(zip(reply[::2], reply[1::2], strict=True))
    ]


def created_of_groups(reply: list[Any]) -> list[list[Created]]:
    """Per group, its outcomes, from a ``create_groups_call`` reply."""
    return [created_of(group) for group in reply]


def routed_queue(jobs: list[NewJob]) -> tuple[str | None, list[NewJob]]:
    """``jobs`` (one queue's) bound for the queues kept in Redis, and the one kept queue they
    all go to (None when a split queue spreads them over several sub-queues)."""
    routed = [_routed(job) for job in jobs]
    kept = {job.queue for job in routed}
    return (next(iter(kept)) if len(kept) == 1 else None), routed
