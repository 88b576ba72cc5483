"""Benchmark ``cluster``: jobs/s delivered from one Redis 7 vs a 3-master Redis Cluster.

Issue 11: the cluster path may cost at most 15 % against a single Redis. On a 2-core machine
this shows overhead, not scaling: every node, worker and the receiver share the same cores.

Both sides run Debian's ``/usr/bin/redis-server`` (Redis 7, so both run the ``#!lua`` scripts;
no persistence) in the same run, with the same ``qs worker -p P -t T`` + ``qs scheduler`` and
the same N. N jobs are queued up front, a third in each of ``webhooks``, ``email`` and ``sms``:
their hash tags fall in the three masters' slot ranges, so on the cluster each master holds one
queue (the note says which port holds which). ``QUEUE_LIMITS`` lifts the email and SMS limits.
The compared rate runs from the 10 % to the 90 % callback (the
start-up ramp and the tail left out: at N = 6,000 they are a large share of a 2-3 s drain);
the first-to-N-th rate of ``throughput`` is shown beside it. Repetitions alternate
(one Redis, cluster, one Redis, ...) with both servers up throughout and flushed before each,
so drift from other load on the machine hits both sides alike; each cluster repetition is
compared with the one-Redis repetition just before it.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.cluster import RedisCluster

from bench.common import (
    SEED_SMS,
    Children,
    Config,
    Receiver,
    Section,
    num,
    qs,
    say,
    service_env,
    system_redis,
    use_redis,
)
from bench.throughput import Outcome
from bench.throughput import _measure as drain
from shared.jobs.keys import tag
from shared.jobs.store import JobStore, NewJob

NAME = "cluster"
#: Most the cluster may cost against one Redis, as a share of its jobs/s.
TARGET_OVERHEAD = 0.15
#: An overhead this close to the target (either side, as a share) is "at the edge": on two
#: shared cores repetitions differ by more than this.
EDGE_BAND = 0.05
#: Masters of the cluster.
MASTERS = 3
#: One queue per master: ``{webhooks}``, ``{email}`` and ``{sms}`` hash to slots 4418, 10780
#: and 13018, one in each third of the 16384 slots.
QUEUES = ("webhooks", "email", "sms")
#: ``QUEUE_LIMITS`` of both sides: no rate or concurrency limit on any of the three queues.
UNLIMITED = json.dumps({q: {"limiter": None, "concurrency": None} for q in QUEUES})
#: Jobs per ``create_many`` call.
BATCH = 1_000
#: The compared rate leaves out this share of callbacks at each end: the start-up ramp (one
#: worker process answering before the other) and the tail (the last queue draining alone).
TRIM = 0.1


@dataclass
class Side:
    """One Redis under test: how the service reaches it and how to empty it."""

    label: str
    url: str
    cluster: bool
    flush: Callable[[], None]
    #: keys on each master (the cluster only): evidence that the queues were spread
    keys_per_master: Callable[[], list[int]] | None = None
    rates: list[float] = field(default_factory=list)  #: steady jobs/s of each repetition
    whole: list[float] = field(default_factory=list)  #: jobs/s first -> N-th callback
    outcomes: list[Outcome] = field(default_factory=list)


def new_job(queue: str, i: int, receiver_url: str) -> NewJob:
    """The ``i``-th job of ``queue``, due now; its callback body carries a unique ``jobId``
    (the job's own id for SMS and email, ``hook-<i>`` for a webhook)."""
    contact = f"contact-{i}"
    if queue == "webhooks":
        data: dict[str, Any] = {
            "url": f"{receiver_url}/webhook",
            "payload": {"jobId": f"hook-{i}", "event": "job.completed", "contactId": contact},
        }
    elif queue == "email":
        data = {"to": f"user{i}@example.com", "subject": "Your receipt", "html": "<p>Thanks</p>"}
        data |= {"contactId": contact, "workspaceId": SEED_SMS["workspaceId"]}
    else:
        data = {**SEED_SMS, "contactId": contact, "delay": 0}
    return NewJob(
        queue=queue,
        actor=queue,
        data=data,
        due_ms=0,
        max_attempts=5,
        workspace_id=SEED_SMS["workspaceId"],
        contact_id=contact,
    )


def queue_jobs(store: JobStore, n: int, receiver_url: str) -> float:
    """Create ``n`` jobs spread evenly over ``QUEUES``; seconds taken."""
    started = time.perf_counter()
    for q, queue in enumerate(QUEUES):
        indexes = range(q, n, len(QUEUES))
        for first in range(0, len(indexes), BATCH):
            batch = [new_job(queue, i, receiver_url) for i in indexes[first : first + BATCH]]
            store.create_many(batch)
    return time.perf_counter() - started


def steady_rate(times: list[float], expected: int) -> float:
    """Callbacks/s between the ``TRIM``-th and the ``(1 - TRIM)``-th share of ``expected``
    arrivals (0 when too few arrived)."""
    ordered = sorted(times)
    first, last = int(expected * TRIM), int(expected * (1 - TRIM)) - 1
    if last >= len(ordered) or last <= first or ordered[last] <= ordered[first]:
        return 0.0
    return (last - first) / (ordered[last] - ordered[first])


def store_for(side: Side) -> JobStore:
    """A job store on ``side``'s Redis (this process's settings pointed there)."""
    from shared.redis_client import get_redis
    from shared.settings import settings

    use_redis(side.url, UNLIMITED)
    settings.redis_cluster = side.cluster
    return JobStore(get_redis())


def repetition(cfg: Config, side: Side, rep: int, receiver: Receiver, notes: list[str]) -> float:
    """Flush ``side``, queue N jobs, start the workers and scheduler, wait for N callbacks;
    the steady jobs/s (``steady_rate``; 0 when fewer arrived)."""
    bench = f"{NAME}/{side.label}#{rep + 1}"
    side.flush()
    insert_s = queue_jobs(store_for(side), cfg.cluster_n, receiver.url)
    say(bench, f"queued {cfg.cluster_n:,} jobs in {insert_s:.1f} s; starting workers")
    env = service_env(
        side.url,
        receiver.url,
        QUEUE_LIMITS=UNLIMITED,
        REDIS_CLUSTER="true" if side.cluster else "false",
        CALLBACK_ALLOWED_NETWORKS="127.0.0.0/8",  # the webhooks queue's URLs are guarded
    )
    logdir = cfg.workdir / NAME
    with Children(logdir, notes) as children:
        receiver.reset(ids=True)
        launched = time.time()
        name = f"{side.label}-{rep + 1}"
        worker = children.start(
            f"{name}-worker",
            qs("worker", "-p", str(cfg.cluster_processes), "-t", str(cfg.cluster_threads)),
            env,
        )
        children.start(f"{name}-scheduler", qs("scheduler"), env)
        outcome = drain(receiver, cfg.cluster_n, launched, bench)
        steady = steady_rate(receiver.records()[0], cfg.cluster_n)
        if not worker.alive():
            notes.append(f"{side.label} #{rep + 1}: the worker exited during the run")
    if outcome.delivered != outcome.expected or outcome.duplicates:
        notes.append(
            f"{side.label} #{rep + 1}: {outcome.delivered:,}/{outcome.expected:,} delivered, "
            f"{outcome.duplicates:,} duplicates"
        )
    if side.keys_per_master and rep == cfg.cluster_repeats - 1:
        keys = " / ".join(f"{k:,}" for k in side.keys_per_master())
        notes.append(f"{side.label}: keys per master after the last repetition: {keys}")
    side.outcomes.append(outcome)
    side.rates.append(steady)
    side.whole.append(outcome.rate)
    say(bench, f"{steady:,.0f} jobs/s steady, {outcome.rate:,.0f} first -> N-th")
    return steady


@contextmanager
def sides(cfg: Config, notes: list[str]) -> Iterator[tuple[Side, Side]]:
    """One standalone Redis 7 and a ``MASTERS``-master cluster, both up until exit."""
    from redis.crc import key_slot

    from tests.cluster import redis_cluster

    with (
        system_redis(cfg.workdir, NAME) as single_url,
        redis_cluster(MASTERS, cfg.cluster_replicas) as cluster,
    ):
        single_client = redis.Redis.from_url(single_url)
        cluster_client = RedisCluster.from_url(cluster.seed_url)

        def flush_single() -> None:
            single_client.flushall()

        def flush_cluster() -> None:
            cluster_client.flushall(target_nodes=RedisCluster.PRIMARIES)

        def keys_per_master() -> list[int]:
            sizes = []
            for master in cluster.masters:
                client = master.client()
                try:
                    sizes.append(int(client.dbsize()))
                finally:
                    client.close()
            return sizes

        use_redis(single_url, UNLIMITED)  # tag() below reads the bench prefix
        placement = ", ".join(
            f"{{{q}}} on :{cluster.master_of_slot(key_slot(tag(q).encode())).port}" for q in QUEUES
        )
        masters = ", ".join(f":{m.port}" for m in cluster.masters)
        notes.append(
            f"cluster masters {masters} ({cfg.cluster_replicas} replica(s) each); {placement}"
        )
        try:
            yield (
                Side("one-redis", single_url, False, flush_single),
                Side("cluster", cluster.seed_url, True, flush_cluster, keys_per_master),
            )
        finally:
            single_client.close()
            cluster_client.close()


def spread(rates: list[float]) -> str:
    """``median (min-max)`` of jobs/s."""
    if not rates:
        return "n/a"
    return f"{num(statistics.median(rates))} ({num(min(rates))}-{num(max(rates))})"


def pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def judge(overhead: float) -> tuple[str, str]:
    """(verdict cell, word) for the median paired ``overhead``: within ``EDGE_BAND`` of the
    target EDGE / "at the edge", else below it PASS / "met", above it FAIL / "missed"."""
    if abs(overhead - TARGET_OVERHEAD) <= EDGE_BAND:
        return "EDGE", "at the edge"
    return ("PASS", "met") if overhead < TARGET_OVERHEAD else ("FAIL", "missed")


def run(cfg: Config) -> Section:
    p, t, n, reps = cfg.cluster_processes, cfg.cluster_threads, cfg.cluster_n, cfg.cluster_repeats
    section = Section(
        NAME,
        f"Cluster: {n:,} queued jobs over {len(QUEUES)} queues, one Redis 7 vs {MASTERS} masters "
        f"x {cfg.cluster_replicas} replica(s), workers -p {p} -t {t} + qs scheduler, "
        f"{reps} repetitions each",
    )
    notes = section.notes
    (cfg.workdir / NAME).mkdir(parents=True, exist_ok=True)
    with Children(cfg.workdir / NAME, notes) as children, sides(cfg, notes) as (single, cluster):
        receiver = Receiver(children)
        for rep in range(reps):
            if cfg.baselines:
                repetition(cfg, single, rep, receiver, notes)
            repetition(cfg, cluster, rep, receiver, notes)

    base = single.rates if cfg.baselines else []
    pct_in = f"{TRIM:.0%}-{1 - TRIM:.0%}"
    section.add(
        f"jobs/s ({pct_in} of callbacks), median (min-max)",
        spread(cluster.rates),
        spread(base) if base else "skipped",
    )
    section.add(
        "jobs/s (first -> N-th callback), median (min-max)",
        spread(cluster.whole),
        spread(single.whole) if base else "skipped",
    )
    section.add(
        "jobs/s per repetition", " / ".join(map(num, cluster.rates)), " / ".join(map(num, base))
    )
    delivered = sum(o.delivered for o in cluster.outcomes)
    duplicates = sum(o.duplicates for o in cluster.outcomes)
    section.add(
        "delivered (distinct jobs, all repetitions)",
        f"{delivered:,}/{n * reps:,}",
        f"{sum(o.delivered for o in single.outcomes):,}/{n * len(base):,}" if base else "skipped",
        "all",
        "PASS" if delivered == n * reps and duplicates == 0 else "FAIL",
    )
    if base and statistics.median(base) > 0:
        overheads = [1 - c / s if s else 1.0 for c, s in zip(cluster.rates, base, strict=True)]
        paired = statistics.median(overheads)
        of_medians = 1 - statistics.median(cluster.rates) / statistics.median(base)
        cell, word = judge(paired)
        section.add(
            "cluster overhead (1 - cluster/one Redis), paired: median (min to max)",
            f"{pct(paired)} ({pct(min(overheads))} to {pct(max(overheads))}): {word}",
            "",
            f"<= {pct(TARGET_OVERHEAD)}",
            cell,
        )
        section.add("cluster overhead of the medians", pct(of_medians))
    notes.append(
        "overhead of repetition i = 1 - cluster_i / one-Redis_i (the one-Redis run just before "
        f"it); verdict on their median: within {EDGE_BAND:.0%} points of the target EDGE (at "
        "the edge), below PASS (met), above FAIL (missed); negative: the cluster was faster"
    )
    return section
