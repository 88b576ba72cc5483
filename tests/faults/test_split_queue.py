"""A hot queue split into sub-queues by workspace (``QUEUE_SHARDS``), with real ``qs`` processes:
each sub-queue is its own hash slot (on a Redis Cluster, spread over the masters), a workspace's
jobs all go to one sub-queue so its per-workspace limit and round robin hold whole, and the
queue-wide rate is shared out between the sub-queues; pause and job lookups treat the queue as one.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.cluster import key_slot

from shared.jobs.queues import spread_tag
from tests.cluster import LocalCluster
from tests.faults.harness import (
    ClusterSeed,
    FaultReceiver,
    Reaper,
    RedisServer,
    Service,
    busiest_window,
    sms,
    wait_until,
)

SHARDS = 3
#: The queue-wide rate (each sub-queue gets a third) and the per-workspace rate, jobs/s.
QUEUE_RATE, WORKSPACE_RATE = 30, 5
ADMIN = ("admin", "a-long-dashboard-password")


def shard_of(workspace: str) -> int:
    """The sub-queue a workspace's jobs go to (the service's rule: CRC-32 of the id)."""
    return zlib.crc32(workspace.encode()) % SHARDS


def workspaces_on(shard: int, count: int) -> list[str]:
    """``count`` workspace ids whose jobs go to sub-queue ``shard``."""
    found: list[str] = []
    n = 0
    while len(found) < count:
        n += 1
        if shard_of(name := f"ws-{n}") == shard:
            found.append(name)
    return found


def sub_key(service: Service, shard: int, *parts: str) -> str:
    """A key of ``sms`` sub-queue ``shard`` (its hash tag chosen to spread over the slots)."""
    return ":".join((f"{service.prefix}:{{{spread_tag('sms', shard, SHARDS)}}}", *parts))


@pytest.fixture(params=["redis", "cluster"])
def split_service(
    request: pytest.FixtureRequest, reaper: Reaper, tmp_path: Path, receiver: FaultReceiver
) -> Iterator[Service]:
    """``sms`` split in three, limited to 30/s as a queue and 5/s per workspace; on one Redis
    or on the session's 3-master Redis Cluster (sub-queues on three masters)."""
    env = {
        "QUEUE_SHARDS": json.dumps({"sms": SHARDS}),
        "QUEUE_LIMITS": json.dumps({"sms": {
            "limiter": {"max": QUEUE_RATE, "duration_ms": 1000}, "concurrency": None,
            "workspace_limiter": {"max": WORKSPACE_RATE, "duration_ms": 1000},
        }}),
        "DASHBOARD_USERNAME": ADMIN[0], "DASHBOARD_PASSWORD": ADMIN[1],
    }  # fmt: skip
    if request.param == "redis":
        server = RedisServer(reaper, tmp_path / "redis").start()
        yield Service(reaper, tmp_path, server, receiver.url, **env)
        return
    cluster: LocalCluster = request.getfixturevalue("redis_cluster")
    service = Service(
        reaper, tmp_path, ClusterSeed(cluster.seed_url, cluster.client), receiver.url,
        REDIS_CLUSTER="true", **env,
    )  # fmt: skip
    # the sub-queues' tags spread over the slot space, so over the three masters
    slots = [key_slot(sub_key(service, i).encode()) for i in range(SHARDS)]
    assert len({cluster.master_of_slot(slot).port for slot in slots}) == SHARDS
    yield service
    client = cluster.client()
    for i in range(SHARDS):
        leftovers = list(client.scan_iter(match=sub_key(service, i, "*"), count=1000))
        if leftovers:
            client.delete(*leftovers)
    client.close()


@pytest.mark.timeout(120)
def test_a_split_queue_keeps_workspace_limits_and_fairness_and_shares_the_queue_rate(
    split_service: Service, receiver: FaultReceiver
) -> None:
    service = split_service
    api = service.gateway()
    service.scheduler()
    service.worker(threads=16)

    # two busy workspaces on each sub-queue, and one light one sharing the first's
    busy = {shard: workspaces_on(shard, 2) for shard in range(SHARDS)}
    light = workspaces_on(0, 3)[2]
    bodies = [
        sms(n, workspaceId=ws, contactId=f"{ws}-{n}")
        for ws in [w for pair in busy.values() for w in pair]
        for n in range(15)
    ]
    ids = api.schedule_bulk(bodies)
    light_ids = api.schedule_bulk([sms(n, workspaceId=light) for n in range(2)])
    # each id names its sub-queue (the queue's letter, then a-c), and a workspace has one
    sub_of = {i: "sms." + str(ord(i[1]) - ord("a")) for i in ids + light_ids}
    by_workspace = defaultdict(set)
    for body, job_id in zip(bodies, ids, strict=True):
        by_workspace[body["workspaceId"]].add(sub_of[job_id])
    assert {ws: subs for ws, subs in by_workspace.items()} == {
        ws: {f"sms.{shard}"} for shard, pair in busy.items() for ws in pair
    }
    assert {sub_of[i] for i in light_ids} == {"sms.0"}
    # and the records live in that sub-queue's keys (its own hash slot)
    shard = int(sub_of[ids[0]][-1])
    assert (
        service.redis.client().hget(sub_key(service, shard, "job", ids[0]), "queue")
        == (sub_of[ids[0]])
    )
    assert api.status(ids[0])["state"] in ("waiting", "active", "completed")  # type: ignore[index]

    everything = ids + light_ids
    wait_until(
        lambda: all(receiver.ids()[i] for i in everything), 60, "every SMS delivered",
        every_s=0.25,
        detail=lambda: f"{sum(1 for i in everything if not receiver.ids()[i])} not yet",
    )  # fmt: skip
    assert all(n == 1 for i, n in receiver.ids().items() if i in set(everything))
    arrivals = receiver.to()
    at_by_ws: dict[str, list[float]] = defaultdict(list)
    for arrival in arrivals:
        at_by_ws[arrival.body["workspaceId"]].append(arrival.at)
    # per-workspace limits hold whole: a workspace never gets more than its rate
    worst = {ws: busiest_window(times, 1.0) for ws, times in at_by_ws.items()}
    assert max(worst.values()) <= WORKSPACE_RATE, worst
    # the queue-wide rate is shared: the three sub-queues together stay within it
    assert busiest_window([a.at for a in arrivals], 1.0) <= QUEUE_RATE
    # round robin within a sub-queue: the light workspace is not stuck behind the busy ones
    first_ws = busy[0]
    last_busy = max(t for ws in first_ws for t in at_by_ws[ws])
    assert max(at_by_ws[light]) < last_busy - 1.0, "the light workspace waited for the busy ones"
    print(
        f"\nsplit queue: {len(everything)} SMS over {SHARDS} sub-queues; busiest second "
        f"{busiest_window([a.at for a in arrivals], 1.0)} (queue limit {QUEUE_RATE}), per "
        f"workspace {sorted(Counter(worst.values()).items())} (limit {WORKSPACE_RATE})"
    )


@pytest.mark.timeout(60)
def test_pausing_a_split_queue_pauses_every_sub_queue(
    reaper: Reaper, tmp_path: Path, receiver: FaultReceiver, redis_server: RedisServer
) -> None:
    service = Service(
        reaper, tmp_path, redis_server, receiver.url, QUEUE_SHARDS=json.dumps({"sms": SHARDS}),
        QUEUE_LIMITS=json.dumps({"sms": {"concurrency": None}}),
        DASHBOARD_USERNAME=ADMIN[0], DASHBOARD_PASSWORD=ADMIN[1],
    )  # fmt: skip
    api = service.gateway()
    admin = httpx.Client(base_url=api.url, auth=ADMIN, timeout=10)
    assert admin.post("/api/queues/sms/pause").json()["paused"] is True
    client = redis_server.client()
    assert all(client.exists(sub_key(service, i, "paused")) for i in range(SHARDS))
    service.scheduler()
    service.worker()
    ids = [api.schedule(sms(n, workspaceId=workspaces_on(n % SHARDS, 1)[0])) for n in range(6)]
    wait_until(lambda: all(s == "waiting" for s in api.states(ids).values()), 10, "jobs waiting")
    assert receiver.to() == []
    resumed = admin.post("/api/queues/sms/resume").json()
    assert resumed["paused"] is False and resumed["dispatchedJobs"] == len(ids)
    api.wait_all(ids, "completed", 20)
    assert sorted(receiver.ids()) == sorted(ids)
    assert admin.post("/api/queues/sms.1/pause").status_code == 200  # one part on its own too
