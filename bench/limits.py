"""Benchmark ``limits``: queue rate limit accuracy, admission limits, fair share, priority.

Issue targets, each against the real service (``qs worker -p 4``, ``qs scheduler``,
``qs gateway``) on a fresh embedded Redis:

- rate: SMS limited to 50 per 1000 ms (the seed's default, concurrency 5), N jobs ready, 4
  worker processes: no sliding 1-second window holds more than 50 job starts, and the achieved
  rate is >= 97 % of 50/s. Starts are the jobs' ``startedAt`` (Redis' clock, as the limiter's).
  Achieved rate = (N - 50) / (last start - first start): a perfect limiter that starts 50 at
  once each second scores 100 %.
- admission: 200 concurrent ``POST /api/ai-response`` for one contact (limit 5/min): exactly
  5 accepted, and exactly 5 jobs written.
- fair share: workspace A's campaign of C jobs queued first and running; a job of workspace B
  starts within 1 s (worst of 5 tries).
- priority: 10,000 priority-5 jobs waiting; a priority-1 job starts next: no priority-5 job
  is handed to a worker between its creation and its own hand-over (``dispatchedAt``); the
  only ones that start before it were already on a worker (at most the concurrency, 5).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    API_KEY,
    Config,
    Section,
    num,
    our_service,
    qs,
    say,
    verdict,
    wait_until,
)
from bench.jobs import BATCH

NAME = "limits"
RATE_MAX, RATE_WINDOW_MS = 50, 1000
TARGET_RATE_SHARE = 0.97
ADMISSION_REQUESTS, ADMISSION_LIMIT = 200, 5
FAIR_TARGET_MS = 1000
FAIR_TRIES = 5
#: Limits of the fair-share and priority runs: the seed's concurrency (5), no rate limit, so
#: the figure is about who goes next, not about waiting for the next rate window.
CONCURRENCY_ONLY = json.dumps({"sms": {"limiter": None, "concurrency": 5}})


def new_jobs(store: Any, n: int, workspace: str, priority: int = 5, tag: str = "") -> list[str]:
    """Create ``n`` due-now SMS jobs of ``workspace`` in batches; their ids in order."""
    from shared.jobs.store import NewJob, now_ms

    ids: list[str] = []
    for first in range(0, n, BATCH):
        jobs = [
            NewJob(
                queue="sms", actor="sms", due_ms=now_ms(), max_attempts=5,
                data={"phoneNumber": "+14155550123", "message": f"{tag}{i}",
                      "contactId": f"c{i}", "workspaceId": workspace},
                workspace_id=workspace, contact_id=f"c{i}", priority=priority,
            )
            for i in range(first, min(n, first + BATCH))
        ]  # fmt: skip
        ids += [c.job_id for c in store.create_many(jobs)]
    return ids


def started_at(store: Any, ids: list[str], field: str = "startedAt") -> list[int | None]:
    """Each job's ``startedAt`` (or another time ``field``, epoch ms) or None, in one pipeline."""
    pipe = store.client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(store.qkey("sms", "job", job_id), field)
    return [int(v) if v else None for v in pipe.execute()]


def max_in_window(times_ms: list[int], window_ms: int) -> int:
    """The most of ``times_ms`` inside any half-open window of ``window_ms`` (sliding)."""
    times, most, first = sorted(times_ms), 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= window_ms:
            first += 1
        most = max(most, last - first + 1)
    return most


def start_workers(children: Any, env: dict[str, str]) -> None:
    children.start("ours-worker", qs("worker", "-p", "4", "-t", "2"), env)
    children.start("ours-scheduler", qs("scheduler"), env)


def rate(cfg: Config, logdir: Path, section: Section) -> None:
    bench, n = f"{NAME}/rate", cfg.limits_jobs
    with our_service(cfg, f"{NAME}-rate", logdir, section.notes, "{}") as (
        children, _receiver, env, store,
    ):  # fmt: skip
        ids = new_jobs(store, n, "ws-rate")
        say(bench, f"{n:,} jobs ready; starting 4 worker processes (about {n // RATE_MAX} s)")
        start_workers(children, env)
        done = wait_until(
            lambda: store.count("sms", "completed") >= n, timeout_s=n / RATE_MAX * 1.5 + 60
        )
        starts = [t for t in started_at(store, ids) if t is not None]
        from shared.metrics import collect

        sms = collect(store).queues["sms"]
    worst = max_in_window(starts, RATE_WINDOW_MS)
    span_s = (max(starts) - min(starts)) / 1000 if len(starts) > 1 else 0
    achieved = (len(starts) - RATE_MAX) / span_s if span_s else 0.0
    if not done:
        section.notes.append(f"rate: only {len(starts):,}/{n:,} jobs started in time")
    section.add(
        f"rate: most starts in any 1 s window ({n:,} jobs, 4 processes)",
        str(worst), "", f"<= {RATE_MAX}", verdict(worst <= RATE_MAX and done),
    )  # fmt: skip
    share = achieved / RATE_MAX
    section.add(
        "rate: achieved rate", f"{num(achieved, 2)}/s ({share:.1%})", "",
        f">= {TARGET_RATE_SHARE:.0%} of {RATE_MAX}/s", verdict(share >= TARGET_RATE_SHARE),
    )  # fmt: skip
    section.add(
        "rate: jobs counted failed / retried / deferred (last 5 min)",
        f"{sms.last_5m.failed} / {sms.last_5m.retried} / {sms.last_5m.deferred:,}", "",
        "0 / 0 / any", verdict(sms.last_5m.failed == sms.last_5m.retried == 0),
    )  # fmt: skip


def admission(cfg: Config, logdir: Path, section: Section) -> None:
    from local.embedded_redis import free_port

    bench = f"{NAME}/admission"
    with our_service(cfg, f"{NAME}-admission", logdir, section.notes, "{}") as (
        children, receiver, env, store,
    ):  # fmt: skip
        port = free_port()
        gateway = children.start("ours-gateway", qs("gateway", "--port", str(port)), env)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url), timeout_s=60)
        if not gateway.alive():
            raise RuntimeError("qs gateway did not start")
        body = {
            "workspace_id": "ws-1", "contact_id": "contact-1", "message_id": "m-1",
            "message_text": "Hi, can I move my appointment to Friday?",
            "callback_url": f"{receiver.url}/api/ai-callback",
        }  # fmt: skip
        say(bench, f"{ADMISSION_REQUESTS} concurrent POST /api/ai-response for one contact")
        with httpx.Client(
            base_url=url,
            headers={"authorization": f"Bearer {API_KEY}"},
            limits=httpx.Limits(max_connections=ADMISSION_REQUESTS),
            timeout=30,
        ) as client, ThreadPoolExecutor(ADMISSION_REQUESTS) as pool:  # fmt: skip
            codes = list(
                pool.map(
                    lambda i: client.post("/api/ai-response", json=body).status_code,
                    range(ADMISSION_REQUESTS),
                )
            )
        written = sum(store.count("ai-response", s) for s in ("delayed", "waiting", "active"))
        written += store.count("ai-response", "completed") + store.count("ai-response", "failed")
    accepted, refused = codes.count(202), codes.count(429)
    others = len(codes) - accepted - refused
    section.add(
        f"admission: accepted of {ADMISSION_REQUESTS} concurrent (limit {ADMISSION_LIMIT}/min)",
        f"{accepted} (429: {refused}, other: {others}; jobs written: {written})", "",
        f"exactly {ADMISSION_LIMIT}",
        verdict(accepted == written == ADMISSION_LIMIT and refused == len(codes) - accepted),
    )  # fmt: skip


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


def fair_share(cfg: Config, logdir: Path, section: Section) -> None:
    from shared.jobs.store import now_ms

    bench, c = f"{NAME}/fair", cfg.limits_campaign
    with our_service(cfg, f"{NAME}-fair", logdir, section.notes, CONCURRENCY_ONLY) as (
        children, _receiver, env, store,
    ):  # fmt: skip
        new_jobs(store, c, "A", tag="campaign-")
        say(bench, f"workspace A: {c:,} jobs queued; starting workers")
        start_workers(children, env)
        wait_until(lambda: store.count("sms", "completed") >= 50, timeout_s=60)
        waits = []
        for i in range(FAIR_TRIES):
            submitted = now_ms()
            (job_id,) = new_jobs(store, 1, "B", tag=f"single-{i}-")
            wait_until(lambda j=job_id: started_at(store, [j])[0], timeout_s=30, interval_s=0.01)
            start = started_at(store, [job_id])[0]
            waits.append((start - submitted) if start else float("inf"))
            time.sleep(0.2)
        left = store.count("sms", "waiting")
    worst = max(waits)
    section.add(
        f"fair share: workspace B's job starts after (worst of {FAIR_TRIES})",
        f"{num(worst)} ms (A still waiting: {left:,} of {c:,})", "",
        f"<= {FAIR_TARGET_MS} ms", verdict(worst <= FAIR_TARGET_MS),
    )  # fmt: skip


def priority(cfg: Config, logdir: Path, section: Section) -> None:
    bench, n = f"{NAME}/priority", cfg.limits_priority_n
    with our_service(cfg, f"{NAME}-priority", logdir, section.notes, CONCURRENCY_ONLY) as (
        children, _receiver, env, store,
    ):  # fmt: skip
        bulk = new_jobs(store, n, "ws-bulk", priority=5, tag="bulk-")
        say(bench, f"{n:,} priority-5 jobs waiting; starting workers")
        start_workers(children, env)
        wait_until(lambda: store.count("sms", "completed") >= 20, timeout_s=60)
        (urgent,) = new_jobs(store, 1, "ws-bulk", priority=1, tag="urgent-")
        wait_until(lambda: started_at(store, [urgent])[0], timeout_s=30, interval_s=0.01)
        created, handed, started = (
            started_at(store, [urgent], field)[0]
            for field in ("createdAt", "dispatchedAt", "startedAt")
        )
        bulk_handed = started_at(store, bulk, "dispatchedAt")
        bulk_started = started_at(store, bulk)
    if not (created and handed and started):
        section.add("priority: the priority-1 job started", "no", "", "next", verdict(False))
        return
    overtook = sum(1 for t in bulk_handed if t is not None and created <= t < handed)
    before = sum(1 for t in bulk_started if t is not None and created <= t < started)
    section.add(
        f"priority: priority-5 jobs handed to a worker before the priority-1 job ({n:,} waiting)",
        f"{overtook} (started before it: {before}, all already on a worker; it started "
        f"{started - created} ms after creation)", "", "0", verdict(overtook == 0),
    )  # fmt: skip


def run(cfg: Config) -> Section:
    section = Section(NAME, "Limits: rate accuracy, admission, fair share, priority")
    logdir = cfg.workdir / NAME
    logdir.mkdir(parents=True, exist_ok=True)
    for step in (rate, admission, fair_share, priority):
        step(cfg, logdir, section)
    return section
