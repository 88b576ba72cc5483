"""Run a chunk's attempts side by side in one worker thread, each waiting for its answer while
the others send theirs.

:func:`run_overlapped` starts each call in a greenlet of its own. Where a call would block
reading a socket (the keep-alive transport calls :func:`wait_readable` before each read), it
hands the socket back to the loop here instead, which starts the next call; once every call
has sent its request or finished, the loop waits on all their sockets at once (``poll``) and
resumes each call as its answer arrives. A chunk of callbacks thus costs one round trip's
wait, not one per callback, and the peers see the chunk's requests together rather than one
after another. Outside :func:`run_overlapped` (Lambda, the gateway, a test) ``wait_readable``
returns at once and the read blocks as usual.

Waits for answers and :func:`sleep` (a rate-limited call waiting for its send slot) are
shared: a call that blocks elsewhere (a connect, an SDK's own HTTP client) holds the thread
meanwhile, as it would anyway, and the others resume after it.
"""

from __future__ import annotations

import contextvars
import functools
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from greenlet import GreenletExit, getcurrent, greenlet

T = TypeVar("T")


class _Call(greenlet):
    """A greenlet that runs call after call for :func:`run_overlapped` (creating one costs
    several times a switch): switched to with a callable, it switches back with ``_Done``
    when that returns, or with ``(fd, deadline)`` where it waits (``wait_readable``)."""

    def __init__(self) -> None:
        super().__init__(self._serve)

    def _serve(self, fn: Callable[[], Any]) -> None:
        while True:
            try:
                done = _Done(fn(), None)
            except GreenletExit:  # dropped while it waited (its loop raised): end here
                raise
            except BaseException as exc:  # handed to run_overlapped, raised there
                done = _Done(None, exc)
            fn = self.parent.switch(done)


class _Done:
    """How a call of a ``_Call`` ended: its value, or the exception it raised."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value, self.error = value, error


#: Each thread's idle ``_Call`` greenlets (a greenlet runs only in the thread that made it).
_idle = threading.local()


def _idle_calls() -> list[_Call]:
    """This thread's idle ``_Call`` greenlets."""
    calls: list[_Call] | None = getattr(_idle, "calls", None)
    if calls is None:
        calls = _idle.calls = []
    return calls


def _take() -> _Call:
    idle = _idle_calls()
    if idle:
        call = idle.pop()
        call.parent = getcurrent()
        return call
    return _Call()


def wait_readable(sock: socket.socket, timeout_s: float | None) -> None:
    """Inside :func:`run_overlapped`: let the other calls run until ``sock`` is readable (data,
    EOF or an error); ``TimeoutError`` after ``timeout_s`` seconds (None: no limit). Elsewhere:
    return at once (the read that follows waits by itself)."""
    current = getcurrent()
    if not isinstance(current, _Call):
        return
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    if not current.parent.switch((sock.fileno(), deadline)):
        raise TimeoutError("timed out")


def sleep(seconds: float) -> None:
    """``time.sleep``, except inside :func:`run_overlapped`, where the other calls run
    meanwhile (a call waiting for its rate slot holds no one up)."""
    current = getcurrent()
    if not isinstance(current, _Call):
        time.sleep(seconds)
        return
    current.parent.switch((-1, time.monotonic() + max(0.0, seconds)))


def run_overlapped(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Each of ``calls``' results, in order; the calls run side by side (see the module).

    An exception a call raises is raised here once every call has ended. An exception raised
    in this thread while the loop waits (a Dramatiq time limit) is thrown into every waiting
    call, as if its read had raised it. A lone call just runs (its waits block, as elsewhere).
    """
    if len(calls) == 1:
        return [calls[0]()]
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []
    waiting: dict[_Call, tuple[int, float | None]] = {}
    index: dict[_Call, int] = {}
    pool: list[_Call] = []

    def resume(call: _Call, how: Callable[[], Any]) -> None:
        waiting.pop(call, None)
        try:
            step = how()
        except BaseException as exc:  # thrown in while it waited, and not caught there
            index.pop(call)
            errors.append(exc)
            return
        if not isinstance(step, _Done):
            waiting[call] = step
            return
        i = index.pop(call)
        if step.error is not None:
            errors.append(step.error)
        else:
            results[i] = step.value
        pool.append(call)

    for i, fn in enumerate(calls):
        call = _take()
        call.gr_context = contextvars.copy_context()
        index[call] = i
        resume(call, functools.partial(call.switch, fn))
    while waiting:
        try:
            ready, expired = _poll(waiting)
        except BaseException as exc:  # raised into this thread: each waiting call gets it
            for call in list(waiting):
                resume(call, functools.partial(call.throw, exc))
            continue
        for call in ready:
            resume(call, functools.partial(call.switch, True))
        for call in expired:
            resume(call, functools.partial(call.switch, False))
    _idle_calls().extend(pool)
    if errors:
        raise errors[0]
    return results


def _poll(waiting: dict[_Call, tuple[int, float | None]]) -> tuple[list[_Call], list[_Call]]:
    """Wait until a waiting call's socket is readable or its deadline passes: (readable,
    timed out)."""
    now = time.monotonic()
    deadlines = [deadline for _, deadline in waiting.values() if deadline is not None]
    timeout_ms = None if not deadlines else max(0, round((min(deadlines) - now) * 1000))
    poller = select.poll()
    by_fd: dict[int, list[_Call]] = {}
    for call, (fd, _) in waiting.items():
        if fd >= 0:  # -1: a sleep, which only its deadline ends
            by_fd.setdefault(fd, []).append(call)
            poller.register(fd, select.POLLIN | select.POLLPRI)
    ready = [call for fd, _ in poller.poll(timeout_ms) for call in by_fd.get(fd, [])]
    now = time.monotonic()
    expired = [
        call
        for call, (_, deadline) in waiting.items()
        if call not in ready and deadline is not None and deadline <= now
    ]
    return ready, expired
