"""Reports each worker process as alive while it runs (read by ``GET /api/health`` and by
recovery), and runs the graceful stop's first step.

It runs on its own thread, so a saturated worker still counts as alive (and ``qs worker``'s
supervisor beats for its children too, which no busy thread can starve). It beats until the
worker has fully
stopped (``after_worker_shutdown``): Dramatiq calls ``before_worker_shutdown`` while jobs are
still running, and a worker that stopped beating then would see its running jobs handed to
another worker and done twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from dramatiq import Middleware

from shared.jobs.liveness import Heartbeat
from shared.jobs.stopping import STOPPING

log = logging.getLogger("qs.worker")

#: Role name under which worker processes beat.
WORKER_ROLE = "worker"


class WorkerHeartbeat(Middleware):
    """Beats from worker boot until the worker has stopped; starts the graceful stop."""

    def __init__(self) -> None:
        self._heartbeat: Heartbeat | None = None

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        STOPPING.clear()
        self._heartbeat = Heartbeat(WORKER_ROLE).start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        STOPPING.set()
        hand_back_unstarted(worker)

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        STOPPING.clear()  # this worker is gone; another one in the process (tests) runs anew


def hand_back_unstarted(worker: Any) -> None:
    """Put the messages waiting in the worker's memory back on their queues at once, so other
    workers take them now rather than after this one's jobs in flight have finished."""
    by_queue: dict[str, list[Any]] = defaultdict(list)
    while True:
        try:
            item = worker.work_queue.get_nowait()
        except Exception:  # queue.Empty
            break
        by_queue[item.message.queue_name].append(item.message)
    for queue, messages in by_queue.items():
        try:
            worker.consumers[queue].requeue_messages(messages)
            log.info("handed %d unstarted message(s) of %s back", len(messages), queue)
        except Exception as exc:  # Dramatiq's own shutdown requeue, or recovery, follows
            log.warning("could not hand back %s's unstarted messages: %s", queue, exc)
