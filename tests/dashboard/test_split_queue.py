"""The admin search on a queue split into sub-queues (``QUEUE_SHARDS``): a workspace's jobs and
indexes are in one sub-queue, the one its search reads; a state tab merges every sub-queue,
paging across them without gaps or repeats. The split is read at import time, so the search
runs in a child Python process started with ``QUEUE_SHARDS={"sms": 3}`` on the test's Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shared.settings import settings

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json
from shared.dashboard.search import search
from shared.jobs.indexes import workspace_index
from shared.jobs.queues import physical_names, sub_queue
from shared.jobs.store import JobStore, NewJob

store = JobStore()
made = {}
for n in range(12):
    ws = f"ws-{n % 6}"
    job = NewJob(queue="sms", actor="sms", data={"n": n}, due_ms=0, delay_ms=0, max_attempts=1,
                 workspace_id=ws, contact_id=f"c-{n}")
    made.setdefault(ws, []).append(store.create(job).job_id)
names = physical_names("sms")
out = {"subqueues": names, "homes": {}, "found": {}, "elsewhere": {}}
for ws, ids in made.items():
    home = sub_queue("sms", ws)
    out["homes"][ws] = home
    found = search(queue="sms", workspace_id=ws).jobs
    out["found"][ws] = sorted(j.id for j in found) == sorted(ids)
    out["elsewhere"][ws] = sum(store.client.zcard(store.qkey(n, "idx", workspace_index("", ws)))
                               for n in names if n != home)
paged, cursor = [], ""
while True:
    page = search(queue="sms", state="waiting", limit=5, cursor=cursor)
    paged += [j.id for j in page.jobs]
    assert all(j.queue == "sms" for j in page.jobs)
    cursor = page.nextCursor
    if not cursor:
        break
out["paged"] = sorted(paged) == sorted(i for ids in made.values() for i in ids)
out["count"] = len(paged)
print(json.dumps(out))
"""


def test_search_on_a_split_queue_reads_the_workspace_sub_queue(redis_url: str, redis_prefix: str):
    env = os.environ | {
        "QUEUE_SHARDS": json.dumps({"sms": 3}),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "REDIS_CLUSTER": "true" if settings.redis_cluster else "false",
        "QUEUE_LIMITS": json.dumps({"sms": {"concurrency": None, "limiter": None}}),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(out["subqueues"]) == 3
    assert len(set(out["homes"].values())) > 1, "the workspaces spread over the sub-queues"
    assert all(out["found"].values()), out["found"]
    assert not any(out["elsewhere"].values()), "no index entry outside the workspace's sub-queue"
    assert out["paged"] and out["count"] == 12
