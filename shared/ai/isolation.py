"""CPU-bound work in child processes, with a hard wall-clock limit.

A pure-Python or regex task holds the GIL for as long as it runs, and Dramatiq's time limit (an
asynchronous exception) cannot interrupt C code: one slow offline AI task used to starve the
worker's heartbeat and every other queue's deliveries in the same process. :func:`run_isolated`
runs ``fn(*args)`` in a child process instead and waits for it without holding the GIL; a child
that is still busy after ``limit_s`` seconds is killed and the call raises
:class:`IsolatedTimeout`.

Children come from a ``forkserver`` (``spawn`` where there is none) context, are started lazily
on first use in each process (a forked worker process makes its own) and are kept for reuse,
at most :data:`MAX_IDLE_CHILDREN` idle; one child runs one call at a time, so concurrent calls
get a child each. ``fn`` must be picklable: a module-level function.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

T = TypeVar("T")

#: Idle children kept per process for reuse.
MAX_IDLE_CHILDREN = 4
#: Seconds a child is given to exit after a kill before it is left to the OS.
_REAP_S = 5.0


class IsolatedTimeout(Exception):
    """The child ran past its wall-clock limit and was killed."""


class ChildDied(Exception):
    """The child exited before answering (killed from outside, out of memory, crashed)."""


def _serve(conn: Connection) -> None:
    """The child's loop: run each ``(fn, args)`` received, answer ``(ok, value or error)``.

    Ctrl-C (SIGINT to the process group) is left to the parent, which stops this child when
    it is done with it (or by closing the pipe when it exits).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            fn, args = conn.recv()
        except EOFError:  # the parent is gone
            return
        try:
            conn.send((True, fn(*args)))
        except Exception as exc:
            conn.send((False, exc))


class _Child:
    """One child process and the parent's end of its pipe."""

    def __init__(self, context: Any) -> None:
        self.conn, child_end = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child_end,), daemon=True, name="qs-isolated"
        )
        self.process.start()
        child_end.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
            self.process.join(_REAP_S)
        self.conn.close()


class _Children:
    """Idle children of this process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        self.context = multiprocessing.get_context(method)
        if method == "forkserver":  # children start with the offline tasks already imported
            self.context.set_forkserver_preload(["shared.ai.local_provider"])
        self.idle: list[_Child] = []
        self.lock = threading.Lock()

    def checkout(self) -> _Child:
        with self.lock:
            while self.idle:
                child = self.idle.pop()
                if child.process.is_alive():
                    return child
                child.kill()
        return _Child(self.context)

    def checkin(self, child: _Child) -> None:
        with self.lock:
            if len(self.idle) < MAX_IDLE_CHILDREN:
                self.idle.append(child)
                return
        child.kill()


_children: _Children | None = None
_children_lock = threading.Lock()


def _pool() -> _Children:
    global _children
    with _children_lock:
        if _children is None or _children.pid != os.getpid():
            _children = _Children()  # a forked child never uses its parent's children
        return _children


def run_isolated(fn: Callable[..., T], *args: Any, limit_s: float) -> T:
    """``fn(*args)`` run in a child process; its exception re-raised here.

    Raises :class:`IsolatedTimeout` when no answer came within ``limit_s`` seconds (the child
    is killed) and :class:`ChildDied` when the child exited without answering.
    """
    pool = _pool()
    child = pool.checkout()
    try:
        child.conn.send((fn, args))
        if not child.conn.poll(limit_s):
            raise IsolatedTimeout(f"still running after {limit_s:g} s, stopped")
        ok, value = child.conn.recv()
    except (EOFError, OSError) as exc:
        child.kill()
        raise ChildDied(f"the worker process for this task exited ({exc!r})") from exc
    except BaseException:  # the limit, or the job's own time limit arriving while waiting
        child.kill()
        raise
    pool.checkin(child)
    if not ok:
        raise value
    return value
