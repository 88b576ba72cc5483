"""Benchmark ``dashboard``: server time of the dashboard's pages and of ``GET /api/admin/jobs``
with ``DASHBOARD_N`` jobs in Redis (mixed states, three queues, 1,000 workspaces of 10
contacts), beside a same-run baseline: finding one workspace's jobs by a plain ``SCAN`` of the
queue's records (what a dashboard without indexes must do). Also the memory of the search
indexes (workspace and contact), per million jobs.

Runs in this process on its own embedded Redis; each figure is the median of ``REPEATS`` calls
of the same code the functions run (page rendering included).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import Config, Section, embedded_redis, num, say, verdict
from shared.dashboard.access import Viewer
from shared.dashboard.pages import overview_page, queue_page
from shared.dashboard.search import SEARCH_WINDOW, search
from shared.jobs.indexes import contact_index, workspace_index
from shared.jobs.keys import queue_key
from shared.jobs.store import JobStore, NewJob
from shared.redis_client import get_redis
from shared.settings import settings

NAME = "dashboard"
QUEUES = ("sms", "email", "webhooks")
WORKSPACES, CONTACTS = 1_000, 10
REPEATS = 5
BATCH = 1_000
#: State each job ends in, by its position modulo 10 (delayed is where they are created).
_MOVE = {0: "completed", 1: "completed", 2: "completed", 3: "failed", 4: "waiting"}

#: Moves up to ARGV[2] delayed jobs (the soonest due) to state ARGV[1] (bench data only).
_MOVE_SCRIPT = """
local ids = redis.call("ZRANGE", KEYS[2], 0, tonumber(ARGV[2]) - 1)
local now = tonumber(ARGV[3])
for _, id in ipairs(ids) do
  redis.call("ZREM", KEYS[2], id)
  redis.call("ZADD", KEYS[3], now, id)
  redis.call("HSET", KEYS[1] .. ":job:" .. id, "state", ARGV[1], "finishedAt", now)
end
return #ids
"""


def _median_ms(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def fill(store: JobStore, n: int) -> dict[str, str]:
    """``n`` jobs over ``QUEUES``, created delayed, then 30 % moved to completed, 10 % to failed
    and 10 % to waiting (records and every index as the store keeps them). Returns a sample
    job id, workspace and contact of the sms queue."""
    made = 0
    sample: dict[str, str] = {}
    while made < n:
        size = min(BATCH, n - made)
        queue = QUEUES[(made // BATCH) % len(QUEUES)]
        jobs = [
            NewJob(
                queue=queue, actor=queue, due_ms=0, delay_ms=86_400_000 + i, max_attempts=3,
                data={"to": f"+1555{(made + i):07d}", "message": f"order {(made + i)} shipped"},
                workspace_id=f"ws-{(made + i) % WORKSPACES}",
                contact_id=f"ct-{(made + i) // WORKSPACES % CONTACTS}", org="bench",
            )
            for i in range(size)
        ]  # fmt: skip
        created = store.create_many(jobs)
        if queue == "sms" and not sample:
            sample = {"id": created[-1].job_id, "ws": jobs[-1].workspace_id,
                      "ct": jobs[-1].contact_id}  # fmt: skip
        made += size
    client = store.client
    move = client.register_script(_MOVE_SCRIPT)
    now = int(time.time() * 1000)
    for queue in QUEUES:
        total = client.zcard(queue_key(queue, "jobs", "delayed"))
        for share, state in ((0.3, "completed"), (0.1, "failed"), (0.1, "waiting")):
            left = int(total * share)
            while left > 0:
                keys = [queue_key(queue), queue_key(queue, "jobs", "delayed"),
                        queue_key(queue, "jobs", state)]  # fmt: skip
                left -= int(move(keys=keys, args=[state, min(left, 10_000), now]))
    return sample


def index_bytes(n: int) -> float:
    """Bytes of every workspace and contact index, per million jobs."""
    pipe = get_redis().pipeline(transaction=False)
    for queue in QUEUES:
        for ws in range(WORKSPACES):
            pipe.memory_usage(queue_key(queue, "idx", workspace_index("bench", f"ws-{ws}")))
            for ct in range(CONTACTS):
                pipe.memory_usage(
                    queue_key(queue, "idx", contact_index("bench", f"ws-{ws}", f"ct-{ct}"))
                )
    total = sum(int(b or 0) for b in pipe.execute())
    return total * 1_000_000 / max(n, 1)


def scan_workspace(ws: str) -> int:
    """The baseline: one workspace's sms jobs by a SCAN of every record of the queue (one
    pipelined HGET per page of keys)."""
    client = get_redis()
    found, cursor = 0, 0
    while True:
        cursor, keys = client.scan(cursor, match=queue_key("sms", "job", "*"), count=1000)
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "ws")
        found += sum(1 for value in pipe.execute() if value == ws)
        if cursor == 0:
            return found


def run(cfg: Config) -> Section:
    n = cfg.dashboard_n
    section = Section(NAME, f"Dashboard with {n:,} jobs in Redis (server time, median of 5)")
    saved = (settings.redis_url, settings.redis_prefix, settings.api_keys)
    with embedded_redis(cfg.workdir, NAME) as server:
        # the jobs' organisation is a configured one, as in a deployment: a search without
        # org= reads its indexes (and SERVICE_TOKEN's and org-less jobs')
        settings.redis_url, settings.redis_prefix = server.url, "benchdash"
        settings.api_keys = "bench:bench-dashboard-key"
        try:
            store = JobStore()
            say(NAME, f"creating {n:,} jobs")
            sample = fill(store, n)
            admin = Viewer("bench", "admin")
            rows: list[tuple[str, Callable[[], Any], float]] = [
                ("overview page", lambda: overview_page(admin), 200),
                ("queue page (sms, completed tab, first 25)",
                 lambda: (queue_page(admin, "sms", {"state": "completed"}),
                          search(queue="sms", state="completed", limit=25)), 200),
                ("search by job id", lambda: search(q=sample["id"]), 100),
                ("search by workspace id", lambda: search(queue="sms", workspace_id=sample["ws"]),
                 100),
                ("search by contact id", lambda: search(queue="sms", workspace_id=sample["ws"],
                                                        contact_id=sample["ct"]), 100),
                (f"text search, {SEARCH_WINDOW:,} most recent jobs",
                 lambda: search(queue="sms", state="completed", q="no such text"), 300),
            ]  # fmt: skip
            by_ws = search(queue="sms", workspace_id=sample["ws"]).jobs
            by_ct = search(queue="sms", workspace_id=sample["ws"], contact_id=sample["ct"]).jobs
            if not by_ws or not by_ct or not search(q=sample["id"]).jobs:
                raise RuntimeError("the searches measured found nothing: the figures would lie")
            for label, fn, target in rows:
                say(NAME, label)
                ms = _median_ms(fn)
                section.add(label, num(ms, 1, "ms"), "", f"<= {target} ms", verdict(ms <= target))
            if cfg.baselines:
                say(NAME, "baseline: SCAN for one workspace")
                started = time.perf_counter()
                scan_workspace(sample["ws"])
                scanned_ms = (time.perf_counter() - started) * 1000
                section.add("search by workspace id, SCAN baseline", "", num(scanned_ms, 1, "ms"))
            say(NAME, "index memory")
            section.add("search index memory per 1M jobs", num(index_bytes(n) / 1e6, 1, "MB"))
            section.notes.append(
                f"{n:,} jobs over {', '.join(QUEUES)}: 50 % delayed, 30 % completed, 10 % failed, "
                "10 % waiting; 1,000 workspaces x 10 contacts"
            )
        finally:
            settings.redis_url, settings.redis_prefix, settings.api_keys = saved
    return section
