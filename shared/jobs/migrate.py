"""Moving job records from the pre-cluster key layout into the per-queue one (``qs migrate``).

Before keys carried their queue's hash tag, the job store kept ``<prefix>:job:<id>`` records,
``<prefix>:jobs:<queue>:<state>`` indexes, a global ``<prefix>:paused`` set, per-organisation
``<prefix>:usage:<org>`` totals and ``<prefix>:idem:<scope>:<key>`` idempotency keys; that
layout only ever ran on a single Redis. This version reads none of it, so a deployment that
upgrades runs ``qs migrate`` once its old workers are stopped (``qs worker``, ``qs scheduler``
and the gateway warn at start-up while old records remain).

Each record moves in one ``MULTI`` transaction with its idempotency key and listing-index
entries, keeping its id (ids without a queue code are found by looking in each queue), so a
migration stopped half-way is simply run again. Jobs that were waiting or active become due
now and are dispatched afresh (an active job's old worker is gone: it runs again, at least
once, as after a lease expiry); delayed jobs keep their due time; finished jobs keep their
finish time, so retention still applies. Paused queues stay paused and usage totals are
added to the ``ai-jobs`` queue's. The old layout's dispatch lines, limiter windows, leases,
metrics buckets and Dramatiq queues are then deleted: none of them holds a job that is not
also in a record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from shared.jobs.keys import queue_key
from shared.jobs.queues import QUEUES, SUBQUEUES, physical_names, sub_queue
from shared.jobs.store import STATES
from shared.redis_client import dramatiq_namespace, key

#: Records moved per SCAN page (each in its own transaction).
SCAN_COUNT = 500

#: The queue whose usage totals the old global ``usage:<org>`` hashes join (the AI jobs').
USAGE_QUEUE = "ai-jobs"


@dataclass
class MigrationReport:
    """What one migration did, per queue and in total."""

    moved: dict[str, int] = field(default_factory=dict)  #: records moved, per queue
    skipped: list[str] = field(default_factory=list)  #: records of no known queue (left alone)
    already: int = 0  #: records already in the new layout (an earlier, interrupted run)
    deleted_keys: int = 0  #: old-layout keys removed once their records had moved
    paused: list[str] = field(default_factory=list)  #: queues whose pause carried over

    @property
    def total(self) -> int:
        return sum(self.moved.values())


def old_index_keys() -> list[str]:
    """Every queue's old per-state index keys (their presence means old records remain)."""
    return [key("jobs", name, state) for name in SUBQUEUES for state in STATES]


def old_layout_present(client: redis.Redis) -> int:
    """How many old per-state indexes exist (0: nothing to migrate). One ``EXISTS`` call; on a
    Redis Cluster, where the old layout never ran, always 0."""
    if not isinstance(client, redis.Redis):
        return 0
    return int(client.exists(*old_index_keys()))


def _old_records(client: redis.Redis) -> Iterator[list[str]]:
    """Pages of old record keys (``<prefix>:job:<id>``: exactly one part after ``job``)."""
    prefix = key("job", "")
    page: list[str] = []
    for name in client.scan_iter(match=prefix + "*", count=SCAN_COUNT):
        if ":" not in name[len(prefix) :]:
            page.append(name)
            if len(page) >= SCAN_COUNT:
                yield page
                page = []
    if page:
        yield page


def _move(client: redis.Redis, old: str, record: dict[str, str], now_ms: int) -> str:
    """Move one record; returns ``moved``, ``already`` or ``skipped``."""
    queue, job_id = record.get("queue", ""), record.get("id", "")
    spec = QUEUES.get(queue)
    if spec is None or spec.processor is None or not job_id:
        return "skipped"
    queue = sub_queue(queue, record.get("ws") or job_id)  # a split queue: the workspace's part
    new = queue_key(queue, "job", job_id)
    pipe = client.pipeline(transaction=True)
    if client.exists(new):  # moved by an earlier run that stopped before deleting
        pipe.delete(old)
        pipe.execute()
        return "already"
    fields: dict[Any, Any] = {name: value for name, value in record.items() if name != "msg"}
    fields["queue"], fields["actor"] = queue, QUEUES[queue].actor
    state = record.get("state", "")
    if state in ("waiting", "active"):  # dispatched afresh: due now, promoted by the scheduler
        fields["state"], score = "delayed", now_ms
    elif state == "delayed":
        score = int(record.get("scheduledFor") or now_ms)
    else:
        score = int(record.get("finishedAt") or record.get("createdAt") or now_ms)
    idem = record.get("idem")
    if idem:
        suffix = idem[len(key("idem", "")) :]
        new_idem = queue_key(queue, "idem", suffix)
        seen: dict[Any, Any] = client.hgetall(idem)
        if seen:
            pipe.hset(new_idem, mapping=seen)
        pipe.delete(idem)
        fields["idem"] = new_idem
    created = int(record.get("createdAt") or now_ms)
    for name in (record.get("idx") or "").split():
        pipe.zadd(queue_key(queue, "idx", name), {job_id: created})
    pipe.hset(new, mapping=fields)
    pipe.zadd(queue_key(queue, "jobs", fields["state"]), {job_id: score})
    pipe.delete(old)
    pipe.execute()
    return "moved"


def _old_structure(client: redis.Redis) -> Iterator[str]:
    """The old layout's keys other than records: indexes, lines, windows, leases, stats,
    Dramatiq's queues."""
    ns = dramatiq_namespace()
    exact = [key("paused")]
    patterns = [key("idx", "*"), key("usage", "*"), key("idem", "*")]
    for q in SUBQUEUES:
        exact += [key(part, q) for part in ("ready", "dispatched", "dispatched-ws", "leases")]
        exact += [key("starts", q), key("sends", q), f"{ns}:{q}", f"{ns}:{q}.msgs"]
        exact += [key("jobs", q, state) for state in STATES]
        patterns += [key(part, q, "*") for part in ("ready", "starts", "sends", "stats")]
        patterns += [f"{ns}:{q}.*", f"{ns}:__acks__.*.{q}*"]
    exact.append(f"{ns}:__heartbeats__")
    yield from (name for name in exact if client.exists(name))
    for pattern in patterns:
        yield from client.scan_iter(match=pattern, count=SCAN_COUNT)


def _carry_over(client: redis.Redis, report: MigrationReport) -> None:
    """Pause flags and usage totals: the two pieces of old state that are not job records."""
    for queue in sorted(client.smembers(key("paused"))):
        if queue in SUBQUEUES:
            for part in physical_names(queue):
                client.set(queue_key(part, "paused"), "1")
            report.paused.append(queue)
    for name in client.scan_iter(match=key("usage", "*"), count=SCAN_COUNT):
        org = name[len(key("usage", "")) :]
        target = queue_key(physical_names(USAGE_QUEUE)[0], "usage", org)
        pipe = client.pipeline(transaction=True)
        for item, value in client.hgetall(name).items():
            if str(item).endswith(":costCents"):
                pipe.hincrbyfloat(target, item, float(value))
            else:
                pipe.hincrby(target, item, int(float(value)))
        pipe.delete(name)
        pipe.execute()


def migrate(client: redis.Redis, *, now_ms: int) -> MigrationReport:
    """Move every old record into its queue's keys, then remove the old layout's other keys.

    ``now_ms`` (epoch ms, Redis' clock) is when jobs that were waiting or active become due.
    Safe to run again after an interruption, and a no-op when nothing is left.
    """
    report = MigrationReport()
    for page in _old_records(client):
        pipe = client.pipeline(transaction=False)
        for name in page:
            pipe.hgetall(name)
        for name, record in zip(page, pipe.execute(), strict=True):
            if not record:
                continue
            outcome = _move(client, name, record, now_ms)
            if outcome == "moved":
                report.moved[record["queue"]] = report.moved.get(record["queue"], 0) + 1
            elif outcome == "already":
                report.already += 1
            else:
                report.skipped.append(name)
    _carry_over(client, report)
    leftovers = sorted(set(_old_structure(client)))
    for start in range(0, len(leftovers), SCAN_COUNT):
        report.deleted_keys += int(client.delete(*leftovers[start : start + SCAN_COUNT]))
    return report
