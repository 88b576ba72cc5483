"""Queue management on a queue split into sub-queues (``QUEUE_SHARDS``): stats, retry-failed,
drain and clean act on the queue as a whole. The split is read at import time, so the handlers
run in a child Python process started with ``QUEUE_SHARDS={"sms": 2}`` on the test's Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shared.settings import settings

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import base64, json, zlib
from functions.api import (admin_queue_metrics_all, clean_queue, drain_queue, queue_stats,
                           queues_list, retry_failed)
from shared.jobs.queues import physical_names
from shared.jobs.store import JobStore, NewJob, now_ms

AUTH = "Basic " + base64.b64encode(b"ops:pw-123").decode()
store = JobStore()
out = {"subqueues": physical_names("sms")}

def call(handler, method, path, params=None, query=None, body=None):
    event = {"rawPath": path, "headers": {"authorization": AUTH},
             "pathParameters": params or {}, "queryStringParameters": query or {},
             "requestContext": {"http": {"method": method, "path": path}},
             "body": json.dumps(body) if body is not None else ""}
    response = handler(event, None)
    return json.loads(response["body"])

def workspaces(per_shard):
    found, n = [], 0
    while len(found) < 2 * per_shard:
        n += 1
        name = f"ws-{n}"
        shard = zlib.crc32(name.encode()) % 2
        if sum(zlib.crc32(w.encode()) % 2 == shard for w in found) < per_shard:
            found.append(name)
    return found

def job(ws, **extra):
    return NewJob(**({"queue": "sms", "actor": "sms", "data": {}, "due_ms": now_ms(),
                      "max_attempts": 1, "workspace_id": ws} | extra))

def run(ids, outcome):
    for job_id in ids:
        started = store.start(job_id, store.get(job_id).message_id, "w")
        assert store.finish(started, outcome)

def per_subqueue(state):
    return [store.count(name, state) for name in physical_names("sms")]

sms = {"name": "sms"}
failing = [store.create(job(ws)).job_id for ws in workspaces(2)]
run(failing, "failed")
out["failed_per_subqueue"] = per_subqueue("failed")
out["stats"] = call(queue_stats.handler, "GET", "/api/queues/sms", sms)
out["retry"] = call(retry_failed.handler, "POST", "/api/queues/sms/retry-failed", sms)
out["waiting_after_retry"] = per_subqueue("waiting")
for ws in workspaces(1):
    store.create(job(ws, due_ms=now_ms() + 60_000))
out["drain"] = call(drain_queue.handler, "POST", "/api/queues/sms/drain", sms, {"delayed": "true"})
out["left_after_drain"] = per_subqueue("waiting") + per_subqueue("delayed")
done = [store.create(job(ws)).job_id for ws in workspaces(2)]
run(done, "completed")
body = {"state": "completed", "limit": 3}
out["clean"] = [call(clean_queue.handler, "POST", "/api/queues/sms/clean", sms, body=body)
                for _ in range(2)]
out["listed"] = [q["queueName"] for q in call(queues_list.handler, "GET", "/api/queues")["queues"]]
out["all"] = sorted(call(admin_queue_metrics_all.handler, "GET", "/v1/admin/queue/metrics/all"))
print(json.dumps(out))
"""


def test_a_split_queue_is_managed_as_one(redis_url: str, redis_prefix: str):
    env = os.environ | {
        "QUEUE_SHARDS": json.dumps({"sms": 2}),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "REDIS_CLUSTER": "true" if settings.redis_cluster else "false",
        "DASHBOARD_USERNAME": "ops",
        "DASHBOARD_PASSWORD": "pw-123",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(out["subqueues"]) == 2
    assert out["failed_per_subqueue"] == [2, 2], "the jobs live in both sub-queues"
    assert (out["stats"]["queueName"], out["stats"]["failed"]) == ("sms", 4)
    assert out["retry"]["retried"] == 4 and out["waiting_after_retry"] == [2, 2]
    assert out["drain"]["removed"] == {"waiting": 4, "delayed": 2}
    assert out["left_after_drain"] == [0, 0, 0, 0]
    assert [c["removed"] for c in out["clean"]] == [3, 1], "the limit spans the sub-queues"
    assert "sms" in out["listed"] and not [n for n in out["listed"] if n.startswith("sms.")]
    assert "sms" in out["all"] and not [n for n in out["all"] if n.startswith("sms.")]
