"""Reports each worker process as alive while it runs (read by ``GET /api/health``).

Dramatiq's own broker heartbeats stop while every worker thread is busy; this one runs on
its own thread, so a saturated worker still counts as alive.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Middleware

from shared.liveness import Heartbeat

#: Role name under which worker processes beat.
WORKER_ROLE = "worker"


class WorkerHeartbeat(Middleware):
    """Beats from worker boot to worker shutdown."""

    def __init__(self) -> None:
        self._heartbeat: Heartbeat | None = None

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        self._heartbeat = Heartbeat(WORKER_ROLE).start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
