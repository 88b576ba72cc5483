"""The queue table: every Dramatiq queue, the processor behind it and its options, in one place.

Adding a job type is one typed ``process(job)`` function in ``functions/jobs/`` plus one line
here. Cron functions have no line of their own: they share the ``cron`` queue, and their
schedules come from ``serverless.yml``.
"""

from __future__ import annotations

import functools
import importlib
import json
import zlib
from dataclasses import dataclass, replace
from typing import Any

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from shared.jobs.keys import HASH_TAGS, queue_key
from shared.settings import RateSetting, settings

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class Rate:
    """At most ``max`` job starts in any sliding window of ``duration_ms`` milliseconds."""

    max: int
    duration_ms: int


@dataclass(frozen=True)
class QueueSpec:
    """One queue and how its jobs run."""

    name: str
    #: one letter that starts the id of every job of this queue (``S01J…``), so an id finds
    #: its queue's keys (and Redis Cluster slot) without a lookup
    code: str
    #: ``module:function`` of the job processor, ``process(job: Job) -> result``; ``None`` for
    #: queues whose actors are declared elsewhere (the cron queue, from ``serverless.yml``).
    processor: str | None
    max_attempts: int = 5  #: total tries including the first (``options.attempts`` overrides)
    backoff_ms: int = 2_000  #: base of the exponential back-off between tries, in milliseconds
    #: a run longer than this is aborted; a job's lease is this plus ``LEASE_GRACE_MS``
    time_limit_ms: int = 50_000
    keep_completed_ms: int = HOUR_MS  #: completed jobs are deleted this long after finishing
    keep_failed_ms: int = 7 * DAY_MS  #: failed jobs are deleted this long after failing
    notify_failure: bool = True  #: POST a failure notice to ``FAILURE_WEBHOOK_URL`` on failure
    #: ``module:function`` called as ``fn(finish, at_ms)`` when a job ends (completed or failed
    #: for good), returning follow-up jobs to create in the same step (e.g. a webhook)
    on_final: str | None = None
    limiter: Rate | None = None  #: job starts per window, across every worker (None: no limit)
    concurrency: int | None = None  #: most jobs active at once, across every worker
    #: job starts per window for each workspace (``workspaceId``) on its own
    workspace_limiter: Rate | None = None
    #: a sub-queue of a split queue (``QUEUE_SHARDS``): the queue it is part of, else None
    part_of: str | None = None
    shard: int = 0  #: a sub-queue's index, 0 to ``shards`` - 1
    shards: int = 1  #: how many sub-queues its queue is split into
    #: jobType names ``POST /api/jobs`` accepts for this queue besides its own name
    job_types: tuple[str, ...] = ()
    #: ``module:function`` the job API calls as ``fn(data, org) -> dict | None`` before queueing:
    #: a dict is answered at once as the synchronous result; None queues the job
    inline: str | None = None

    @property
    def actor(self) -> str:
        """The Dramatiq actor that runs this queue's jobs (named after the queue)."""
        return self.name


#: Queue that cron functions run on (one actor per scheduled function).
CRON_QUEUE = "cron"
#: Queue of failure notices (their own failure raises no further notice).
FAILURE_NOTICES_QUEUE = "failure-notices"

QUEUES: dict[str, QueueSpec] = {
    spec.name: spec
    for spec in (
        # Limits from the seed's queue config (overridable with QUEUE_LIMITS).
        QueueSpec(
            "sms",
            code="S",
            processor="functions.jobs.send_sms:process",
            limiter=Rate(50, 1000),
            concurrency=5,
        ),
        QueueSpec(
            "email",
            code="E",
            processor="functions.jobs.send_email:process",
            limiter=Rate(100, 1000),
            concurrency=5,
        ),
        QueueSpec(
            "ai-response",
            code="R",
            processor="functions.jobs.ai_response:process",
            limiter=Rate(10, 1000),
            concurrency=5,
        ),
        QueueSpec(
            "ai-jobs",
            code="A",
            processor="functions.jobs.ai_job:process",
            max_attempts=3,
            on_final="shared.ai.jobs:on_final",
        ),
        QueueSpec("webhooks", "W", processor="functions.jobs.webhook:process", max_attempts=5),
        QueueSpec(
            "webhook-processing", "H", "functions.jobs.process_webhook:process", concurrency=15
        ),
        QueueSpec(
            FAILURE_NOTICES_QUEUE,
            "F",
            processor="functions.jobs.notify_failure:process",
            notify_failure=False,
        ),
        # Seed 004's general queues (POST /api/jobs), with its workers' concurrencies.
        QueueSpec(
            "message-processing",
            "M",
            processor="functions.jobs.message_processing:process",
            concurrency=10,
        ),
        QueueSpec(
            "email-sending", "L", processor="functions.jobs.email_sending:process", concurrency=5
        ),
        QueueSpec(
            "notifications", "N", processor="functions.jobs.notifications:process", concurrency=5
        ),
        QueueSpec(
            "analytics",
            "Y",
            processor="functions.jobs.analytics:process",
            concurrency=10,
            job_types=("track-event",),
            notify_failure=False,
        ),
        QueueSpec(CRON_QUEUE, "C", processor=None, max_attempts=1, time_limit_ms=55_000),
        # Seed 002's long jobs: they call your app (APP_API_URL) and report progress.
        QueueSpec(
            "bulk-availability",
            "B",
            processor="functions.jobs.bulk_availability:process",
            concurrency=5,
            job_types=("bulk-availability-check",),
            inline="shared.general_jobs.bulk_availability:inline",
        ),
        QueueSpec(
            "integration-sync",
            "I",
            processor="functions.jobs.integration_sync:process",
            concurrency=3,
            time_limit_ms=300_000,  # a longer sync is cut and resumes at its cursor
            inline="shared.general_jobs.integration_sync:inline",
        ),
    )
}

#: The most sub-queues one queue may be split into (a sub-queue's id letter is a-z).
MAX_SHARDS = 26


def spread_tag(name: str, shard: int, shards: int) -> str:
    """The hash tag of sub-queue ``shard`` of ``name``: ``<name>.<shard>``, with a suffix
    (``.<k>``) when needed to put it in the ``shard``-th of ``shards`` equal parts of the
    16,384 slots, so sub-queues spread over a cluster's masters as its slots do (bare names
    would not: ``{sms.0}``, ``{sms.1}`` and ``{sms.2}`` hash to slots 482, 4547 and 8608)."""
    low = shard * REDIS_CLUSTER_HASH_SLOTS // shards
    high = (shard + 1) * REDIS_CLUSTER_HASH_SLOTS // shards
    candidate, k = f"{name}.{shard}", 0
    while not low <= key_slot(candidate.encode()) < high:
        k += 1
        candidate = f"{name}.{shard}.{k}"
    return candidate


def split(spec: QueueSpec, shards: int) -> list[QueueSpec]:
    """``spec`` as ``shards`` sub-queues ``<name>.0`` … (one hash slot each, so a hot queue
    spreads over a cluster's nodes); a sub-queue's id code is the queue's letter and its
    index as a lower-case letter (``Sa``, ``Sb``…). Their limits are shared out by
    ``effective``; their hash tags (``spread_tag``) are registered by the queue table."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"QUEUE_SHARDS: {spec.name} may have 1 to {MAX_SHARDS} sub-queues")
    if shards == 1:
        return [spec]
    return [
        replace(spec, name=f"{spec.name}.{i}", code=spec.code + chr(ord("a") + i),
                part_of=spec.name, shard=i, shards=shards)
        for i in range(shards)
    ]  # fmt: skip


def _split_table() -> dict[str, list[QueueSpec]]:
    unknown = set(settings.queue_shards) - {n for n, s in QUEUES.items() if s.processor}
    if unknown:
        raise ValueError(f"QUEUE_SHARDS names unknown queue(s) {sorted(unknown)}")
    table = {
        name: split(spec, settings.queue_shards.get(name, 1))
        for name, spec in QUEUES.items()
        if spec.processor is not None
    }
    for parts in table.values():
        HASH_TAGS.update(
            {p.name: spread_tag(p.part_of, p.shard, p.shards) for p in parts if p.part_of}
        )
    return table


#: Each job queue's physical queues: itself, or its sub-queues when ``QUEUE_SHARDS`` splits it.
SUBQUEUES: dict[str, list[QueueSpec]] = _split_table()

#: The queues whose jobs live in the job store (everything but cron), as they are kept in
#: Redis: a split queue appears as its sub-queues, each with its own keys, actor and limits.
JOB_QUEUES = [sub for subs in SUBQUEUES.values() for sub in subs]
QUEUES.update({sub.name: sub for sub in JOB_QUEUES})
#: Names of the queues kept in Redis (``JOB_QUEUES`` and cron).
PHYSICAL = {spec.name for spec in JOB_QUEUES} | {CRON_QUEUE}


def sub_queue(queue: str, routing_key: str) -> str:
    """The physical queue a job of ``queue`` goes to: ``queue`` itself unless it is split, else
    the sub-queue ``routing_key`` (its workspace, or its id when it has none) hashes to, so all
    of one workspace's jobs share a sub-queue (and its per-workspace limit and fairness)."""
    subs = SUBQUEUES.get(queue)
    if not subs or len(subs) == 1:
        return subs[0].name if subs else queue
    return subs[zlib.crc32(routing_key.encode()) % len(subs)].name


def physical_names(queue: str) -> list[str]:
    """The queues kept in Redis for ``queue`` (a queue's own name, or its sub-queues)."""
    return [spec.name for spec in SUBQUEUES.get(queue, [])] or [queue]


@functools.cache
def resolve(path: str) -> Any:
    """``module:function`` -> the function (processors and hooks of the queue table)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def share(total: int, shard: int, shards: int) -> int:
    """Sub-queue ``shard``'s part of a queue-wide ``total`` split ``shards`` ways: the parts
    differ by at most one and add up to ``total`` (at least 1 each, so no sub-queue stalls)."""
    return max(total // shards + (1 if shard < total % shards else 0), 1)


#: ``effective``'s answers while ``QUEUE_LIMITS`` stays the same object: (that object, kept
#: alive so it cannot be mistaken for another; id of a spec -> (the spec, its effective spec)).
#: A worker asks once per job; building the answer costs a few µs.
_effective: tuple[object, dict[int, tuple[QueueSpec, QueueSpec]]] = (None, {})


def effective(spec: QueueSpec) -> QueueSpec:
    """``spec`` with its ``QUEUE_LIMITS`` override applied (a field set to null: no limit) and,
    for a sub-queue, its share of the queue-wide rate and concurrency (a per-workspace limit
    holds whole: a workspace's jobs all go to one sub-queue)."""
    global _effective
    limits, known = _effective
    if limits is not settings.queue_limits:
        _effective = limits, known = settings.queue_limits, {}
    cached = known.get(id(spec))
    if cached is None or cached[0] is not spec:
        cached = known[id(spec)] = (spec, _effective_now(spec))
    return cached[1]


def _effective_now(spec: QueueSpec) -> QueueSpec:
    """``effective`` without the cache."""
    override = settings.queue_limits.get(spec.part_of or spec.name)
    changes: dict[str, object] = {}
    for name in override.model_fields_set if override else ():
        value = getattr(override, name)
        if isinstance(value, RateSetting):
            value = Rate(value.max, value.duration_ms)
        changes[name] = value
    spec = replace(spec, **changes) if changes else spec  # type: ignore[arg-type]
    if spec.shards == 1:
        return spec
    rate, conc = spec.limiter, spec.concurrency
    return replace(
        spec,
        limiter=Rate(share(rate.max, spec.shard, spec.shards), rate.duration_ms) if rate else None,
        concurrency=share(conc, spec.shard, spec.shards) if conc else None,
    )


def check_queue_limits() -> None:
    """Refuse a ``QUEUE_LIMITS`` entry that names no job queue."""
    unknown = set(settings.queue_limits) - set(SUBQUEUES)
    if unknown:
        known = ", ".join(SUBQUEUES)
        raise ValueError(f"QUEUE_LIMITS names unknown queue(s) {sorted(unknown)}; known: {known}")


#: An active job's lease outlives its queue's time limit by this many milliseconds: time for
#: its worker to write the outcome (retried through a short Redis outage) before recovery may
#: hand the job to another worker.
LEASE_GRACE_MS = 15_000

#: A rate-limited job is handed to a worker up to this many milliseconds before its slot frees,
#: and waits there for the exact moment: the limiter loses no time to polling or hand-over.
RATE_LEAD_MS = 50


def lua_config(queue: str) -> str:
    """``queue``'s limits, as the job-store scripts read them (CFG in ``lua/_lib.lua``);
    rebuilt only when the settings they come from change."""
    global _config
    limits, batch, ahead = settings.queue_limits, settings.delivery_batch, settings.dispatch_ahead
    if _config is None or _config[0] is not limits or _config[1:3] != (batch, ahead):
        _config = (limits, batch, ahead, _build_lua_config())
    return _config[3].get(queue, _DEFAULT_CONFIG)


#: What a queue outside the job queues (cron) reads.
_DEFAULT_CONFIG = json.dumps({"cap": 1000, "batch": 1})
#: (the QUEUE_LIMITS object, kept alive so it cannot be mistaken for another, batch, ahead,
#: each queue's JSON)
_config: tuple[object, int, int, dict[str, str]] | None = None


def _build_lua_config() -> dict[str, str]:
    check_queue_limits()
    config = {}
    for spec in map(effective, JOB_QUEUES):
        entry: dict[str, object] = {
            # one job per message when concurrency is limited, so N jobs run on N threads
            "batch": 1 if spec.concurrency else settings.delivery_batch,
            "cap": spec.concurrency or settings.dispatch_ahead,
            "conc": bool(spec.concurrency),
            "limited": bool(spec.concurrency or spec.limiter or spec.workspace_limiter),
            "lead_us": RATE_LEAD_MS * 1000,
            "lease_ms": spec.time_limit_ms + LEASE_GRACE_MS,
        }
        for field, rate in (("rate", spec.limiter), ("ws", spec.workspace_limiter)):
            if rate:
                entry[field] = [rate.max, rate.duration_ms * 1000]
        config[spec.name] = json.dumps(entry, separators=(",", ":"))
    return config


#: Queue codes to queues (``QueueSpec.code``; a sub-queue's code has two letters).
BY_CODE = {spec.code: spec for spec in QUEUES.values()}
assert len(BY_CODE) == len(QUEUES), "every queue needs a code of its own"


def queue_of(job_id: str) -> str | None:
    """The queue kept in Redis that a job id names, or None: an id issued before ids named
    their queue, or by a queue split differently since (both are looked for in every queue)."""
    if not job_id or job_id[0].isdigit():
        return None
    code = job_id[:2] if job_id[1:2].islower() else job_id[:1]
    spec = BY_CODE.get(code)
    return spec.name if spec and spec.name in PHYSICAL else None


def ready_key(queue_name: str) -> str:
    """The Redis list of ``queue_name``'s worker messages (ids; bodies in ``…:mq:msgs``)."""
    return queue_key(queue_name, "mq")
