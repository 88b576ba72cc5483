"""The scheduler's job-store loop: move due jobs into queues, recover jobs of dead workers,
and delete jobs past their retention.

Every step is one atomic Lua call, so any number of schedulers may run this loop at once.
"""

from __future__ import annotations

import logging
import threading
import time

from shared.jobs.heartbeat import WORKER_ROLE
from shared.jobs.liveness import alive
from shared.jobs.queues import JOB_QUEUES, QueueSpec
from shared.jobs.store import JobStore
from shared.settings import settings

log = logging.getLogger("qs.due_jobs")

#: Most jobs one promotion call moves (a larger backlog takes several calls, back to back).
#: Small enough that workers start on the first jobs of a burst while the rest are promoted:
#: 1,000 jobs due at once reach the workers in ten short Lua calls, not one 30 ms call.
PROMOTE_BATCH = 100
#: Jobs due within this many ms of a held message's first share it (it is released when the
#: last is due): a job may start up to this late, and a steady stream of due times costs one
#: message per 10 ms, not one per job. 1,000 SMS created one at a time over ~0.6 s, each due
#: 2 s later, on a 2-core machine that drains ~2,500 callbacks/s (A/B, alternating): lateness
#: p99 median 176 ms (8 runs) with 2 ms groups of ~4 jobs, whose per-message costs saturated
#: the machine; 107 ms (12 runs) with 5 ms; 82 ms (8 runs) with 10 ms, one scheduler tick.
HOLD_GROUP_MS = 10
#: Seconds between looks at the queues' outboxes: a follow-up job (failure notice, webhook)
#: waits this long at most before it is created in its queue; looking on every 10 ms tick
#: would cost one round trip per tick for what is rare.
FOLLOW_UPS_INTERVAL_S = 0.1
#: Seconds between recovery and retention passes.
HOUSEKEEPING_INTERVAL_S = 1.0


#: Most jobs of one state one retention call deletes.
CLEAN_BATCH = 1000


def remove_expired(store: JobStore, spec: QueueSpec, *, limit: int = CLEAN_BATCH) -> dict[str, int]:
    """Delete up to ``limit`` completed and ``limit`` failed jobs of ``spec``'s queue past its
    retention (``keep_completed_ms``, ``keep_failed_ms``); how many of each."""
    return {
        "completed": store.clean(spec.name, "completed", older_than_ms=spec.keep_completed_ms,
                                 limit=limit),
        "failed": store.clean(spec.name, "failed", older_than_ms=spec.keep_failed_ms, limit=limit),
    }  # fmt: skip


class DueJobs:
    """Polls every ``DUE_POLL_INTERVAL_MS`` for due jobs, sooner when one is due before (see
    ``run``); stages jobs due within ``DUE_AHEAD_MS`` on held messages; housekeeping every
    few seconds."""

    def __init__(
        self, queues: list[QueueSpec] | None = None, store: JobStore | None = None
    ) -> None:
        self.queues = queues if queues is not None else JOB_QUEUES
        self.store = store or JobStore()
        self._stop = threading.Event()
        self._last_housekeeping = 0.0
        self._last_follow_ups = 0.0
        #: ms from the last pass until a held message or delayed job is due (None: none)
        self.next_due_in_ms: int | None = None

    def promote(self) -> int:
        """Make every job due now ready and dispatch every queue, staging those due within
        ``DUE_AHEAD_MS`` on held messages (a look at every queue per tick, then one round trip
        for the queues with something to do, more while a backlog of due jobs lasts); how many
        became ready or staged. Sets ``next_due_in_ms``."""
        moved, soonest = 0, None
        queues = [spec.name for spec in self.queues]
        while queues:
            passes = self.store.promote_due_many(
                queues, limit=PROMOTE_BATCH, ahead_ms=settings.due_ahead_ms,
                group_ms=HOLD_GROUP_MS,
            )  # fmt: skip
            moved += sum(p.moved for p in passes)
            # the soonest over every pass: a later one covers only the queues still busy
            dues = [p.next_due_in_ms for p in passes if p.next_due_in_ms is not None]
            soonest = min([*dues, *([] if soonest is None else [soonest])], default=None)
            queues = [q for q, p in zip(queues, passes, strict=True) if p.moved >= PROMOTE_BATCH]
        self.next_due_in_ms = soonest
        return moved

    def follow_ups(self) -> int:
        """Create the follow-up jobs (failure notices, webhooks) waiting in every queue's
        outbox in their own queues (one pipelined look when there are none); how many."""
        pipe = self.store.client.pipeline(transaction=False)
        for spec in self.queues:
            pipe.llen(self.store.qkey(spec.name, "outbox"))
        waiting = [spec.name for spec, n in zip(self.queues, pipe.execute(), strict=True) if n]
        return sum(self.store.drain_outbox(queue) for queue in waiting)

    def housekeeping(self) -> None:
        """Re-enqueue jobs whose worker died or whose lease expired; delete finished jobs past
        retention."""
        workers = alive(WORKER_ROLE)  # liveness lives outside the queues' slots: read it once
        for spec in self.queues:
            notify = spec.notify_failure and bool(settings.failure_webhook_url)
            recovered = self.store.recover(spec.name, alive=workers, notify=notify)
            for job_id in recovered:
                log.warning(
                    "handed to another worker (its worker died, its lease expired, or it was "
                    "held unstarted)",
                    extra={"job_id": job_id, "queue": spec.name},
                )
            remove_expired(self.store, spec)

    def run(self) -> None:
        """Loop until ``stop()``, waking every ``DUE_POLL_INTERVAL_MS`` or sooner, when a held
        message or delayed job is due; Redis errors are logged and retried, never fatal."""
        while not self._stop.is_set():
            try:
                self.promote()
                if time.monotonic() - self._last_follow_ups >= FOLLOW_UPS_INTERVAL_S:
                    self._last_follow_ups = time.monotonic()
                    self.follow_ups()
                if time.monotonic() - self._last_housekeeping >= HOUSEKEEPING_INTERVAL_S:
                    self._last_housekeeping = time.monotonic()
                    self.housekeeping()
            except Exception:
                log.exception("due-jobs pass failed; retrying")
                self.next_due_in_ms = None
                self._stop.wait(1.0)
            self._stop.wait(self.pause_s())

    def pause_s(self) -> float:
        """Seconds until the next pass: the poll interval, or less when something is due
        sooner (at least 1 ms)."""
        interval_ms = settings.due_poll_interval_ms
        if self.next_due_in_ms is not None:
            interval_ms = min(interval_ms, max(self.next_due_in_ms, 1))
        return interval_ms / 1000

    def stop(self) -> None:
        self._stop.set()
