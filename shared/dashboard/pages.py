"""The dashboard's pages, by path under ``/admin/queues``: the overview, a queue, a job."""

from __future__ import annotations

import json
import time
from typing import Any

from shared.admin.queues import stats
from shared.dashboard import audit
from shared.dashboard.access import Viewer
from shared.dashboard.history import RANGES, charts, history
from shared.dashboard.overview import STATE_COLUMNS, overview
from shared.dashboard.render import page
from shared.dashboard.search import known_queue, logical_queue
from shared.http import Problem, Response
from shared.jobs.keys import queue_key
from shared.jobs.store import STATES, JobStore


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def overview_page(viewer: Viewer) -> Response:
    return page(
        "overview.html", viewer, ov=overview(), states=STATE_COLUMNS, audit=audit.recent(20),
        now_ms=_now_ms(),
    )  # fmt: skip


def queue_page(viewer: Viewer, name: str, query: dict[str, str]) -> Response:
    known_queue(name)
    state = query.get("state") or "waiting"
    if state not in STATES:
        raise Problem(404, f"No state {state!r}; the states are {', '.join(STATES)}.")
    span = query.get("range") or "hour"
    if span not in RANGES:
        raise Problem(404, f"No range {span!r}; the ranges are {', '.join(RANGES)}.")
    (counts,) = stats([name])
    points = history(name, span)  # type: ignore[arg-type]
    return page(
        "queue.html", viewer, queue=name, state=state, states=STATES, stats=counts.model_dump(),
        audit=audit.recent(20, target=name), now_ms=_now_ms(), span=span, points=points,
        charts=charts(points),
    )  # fmt: skip


def job_page(viewer: Viewer, job_id: str) -> Response:
    store = JobStore()
    job = store.get(job_id)
    if job is None:
        raise Problem(404, f"No job {job_id!r} (it may have finished and been removed).")
    extra: list[Any] = store.client.hmget(
        queue_key(job.queue, "job", job.id), ["enqueuedAt", "logs", "history"]
    )
    enqueued, logs, history = extra
    return page(
        "job.html", viewer, job=job, queue=logical_queue(job.queue),
        enqueued_at=int(enqueued) if enqueued else None, progress=job.progress,
        logs=_log_lines(logs), attempts=attempt_history(history),
        audit=audit.recent(20, target=job.id), now_ms=_now_ms(),
    )  # fmt: skip


def attempt_history(raw: str | None) -> list[dict[str, Any]]:
    """A job's attempts, newest first (``attempt_history`` in ``lua/_lib.lua``): each with its
    outcome, times, error and the calls it made."""
    entries = json.loads(raw) if raw else []
    if not isinstance(entries, list):
        return []
    out = []
    for entry in entries:
        calls = entry.get("calls")
        out.append({
            "n": entry.get("n"), "outcome": entry.get("outcome", "?"),
            "startedAt": entry.get("startedAt"), "finishedAt": entry.get("finishedAt"),
            "error": entry.get("error"),
            "calls": [
                {"url": c.get("url", ""), "status": c.get("status"), "ms": c.get("ms"),
                 "webhookId": c.get("webhookId", ""), "ok": bool(c.get("ok")),
                 "error": c.get("error")}
                for c in (calls if isinstance(calls, list) else []) if isinstance(c, dict)
            ],
        })  # fmt: skip
    return out[::-1]


def _log_lines(raw: str | None) -> list[str]:
    """A job's log lines (``job.log(line)`` of its processor), when it keeps any."""
    if not raw:
        return []
    try:
        lines = json.loads(raw)
    except ValueError:
        return [raw]
    return [str(line) for line in lines] if isinstance(lines, list) else [str(lines)]


def route(viewer: Viewer, path: str, query: dict[str, str]) -> Response:
    """The page at ``path`` (``/admin/queues…``); 404 for none."""
    rest = path.removeprefix("/admin/queues").strip("/")
    if not rest:
        return overview_page(viewer)
    kind, _, arg = rest.partition("/")
    if kind == "queue" and arg:
        return queue_page(viewer, arg, query)
    if kind == "job" and arg:
        return job_page(viewer, arg)
    raise Problem(404, f"No dashboard page at {path!r}.")
