"""``qs worker``: Dramatiq worker processes with a graceful, idempotent shutdown.

Dramatiq's own CLI kills a worker process on its second SIGTERM; a process manager that signals
the whole process group (Ctrl-C, ``systemd``, ``qs dev``) sends exactly that, so in-flight
callbacks were cut off. Here every SIGINT/SIGTERM after the first is ignored: the worker stops
taking messages, hands prefetched ones back to the queue and lets the running ones finish (up
to ``WORKER_SHUTDOWN_TIMEOUT_S``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading

import dramatiq

from local.processes import on_stop_signals
from shared.settings import settings

log = logging.getLogger("qs.worker")


def _stop_on_signals(stop: threading.Event) -> None:
    def stopping(name: str) -> None:
        if not stop.is_set():
            log.info("%s: finishing jobs in flight, then stopping", name)
        stop.set()

    on_stop_signals(stopping)


def run_worker_process(threads: int, queues: list[str] | None) -> int:
    """One worker process: every actor, ``threads`` threads, until SIGINT/SIGTERM."""
    stop = threading.Event()
    _stop_on_signals(stop)
    from local import worker_app  # declares the broker, then the actors

    worker = dramatiq.Worker(
        worker_app.broker,
        queues=set(queues) if queues else None,
        worker_threads=threads,
        worker_timeout=settings.worker_idle_poll_ms,
    )
    worker.start()
    log.info(
        "worker %d ready: %d threads on %s",
        os.getpid(),
        threads,
        sorted(worker_app.broker.get_declared_queues()),
    )
    stop.wait()
    worker.stop(timeout=int(settings.worker_shutdown_timeout_s * 1000))
    log.info("worker %d stopped", os.getpid())
    return 0


def run_workers(processes: int, threads: int, queues: list[str] | None) -> int:
    """``processes`` worker processes (forked); returns when all have stopped."""
    if processes <= 1:
        return run_worker_process(threads, queues)
    stop = threading.Event()
    _stop_on_signals(stop)
    context = multiprocessing.get_context("fork")
    children = [
        context.Process(target=run_worker_process, args=(threads, queues), name=f"worker-{i}")
        for i in range(processes)
    ]
    for child in children:
        child.start()
    while not stop.is_set() and all(c.is_alive() for c in children):
        stop.wait(0.5)
    if not stop.is_set():
        dead = [c for c in children if not c.is_alive()]
        log.error(
            "worker %s exited unexpectedly (code %s); stopping the others",
            dead[0].pid,
            dead[0].exitcode,
        )
    for child in children:
        if child.is_alive() and child.pid is not None:
            os.kill(child.pid, signal.SIGTERM)
    for child in children:
        child.join()
    return 0 if all(c.exitcode == 0 for c in children) else 1
