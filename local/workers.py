"""``qs worker``: Dramatiq worker processes under a supervisor, with a graceful, idempotent
shutdown.

The supervisor process does nothing but watch its children and beat for each one that is
alive: a child whose every thread is stuck in a CPU-bound job (C code holding the GIL) still
counts as alive, while a child that died stops counting at once. (Each child also beats from a
thread of its own; a job that outlives its lease is reclaimed whatever the beats say.)

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
import socket
import threading
from multiprocessing.process import BaseProcess

import dramatiq

from local.processes import notify_ready, on_stop_signals
from shared.jobs.heartbeat import WORKER_ROLE
from shared.jobs.liveness import beat, forget
from shared.jobs.queues import physical_names
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
        # a split queue's name stands for all of its sub-queues
        queues={sub for name in queues for sub in physical_names(name)} if queues else None,
        worker_threads=threads,
        worker_timeout=settings.worker_idle_poll_ms,
    )
    worker.start()
    notify_ready()
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


def _beat_for(children: list[BaseProcess], stop: threading.Event) -> None:
    """Beat as a worker for each child alive, every ``HEARTBEAT_INTERVAL_S`` (1 s at most),
    until ``stop`` is set once every child has exited; forget each child as it exits."""
    host = socket.gethostname()
    beating: set[str] = set()
    while True:
        members = {f"{host}:{c.pid}" for c in children if c.is_alive()}
        try:
            for member in members:
                beat(WORKER_ROLE, member)
            for member in beating - members:
                forget(WORKER_ROLE, member)
            beating = members
        except Exception as exc:  # Redis unreachable: the next round tries again
            log.warning("worker heartbeat failed: %s", exc)
        if stop.is_set() and not members:
            return
        # at least once a second, so a child that died is forgotten (and recovered) at once
        stop.wait(min(settings.heartbeat_interval_s, 1.0))


def run_workers(processes: int, threads: int, queues: list[str] | None) -> int:
    """``processes`` worker processes (forked, at least one) under this supervisor; returns
    when all have stopped."""
    processes = max(processes, 1)
    stop = threading.Event()
    _stop_on_signals(stop)
    context = multiprocessing.get_context("fork")
    children = [
        context.Process(target=run_worker_process, args=(threads, queues), name=f"worker-{i}")
        for i in range(processes)
    ]
    for child in children:
        child.start()
    children_gone = threading.Event()
    beats = threading.Thread(
        target=_beat_for, args=(children, children_gone), name="heartbeat-children", daemon=True
    )
    beats.start()
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
    children_gone.set()
    beats.join(timeout=5)
    return 0 if all(c.exitcode == 0 for c in children) else 1
