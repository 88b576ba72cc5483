"""Child-process helpers shared by ``qs dev`` and the embedded Redis."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import Any, Protocol

#: Linux ``prctl`` option: deliver a signal to this process when its parent dies.
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` that makes the child get SIGTERM if its parent dies (even by SIGKILL).

    A no-op where ``prctl`` is unavailable.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class Stoppable(Protocol):
    """What ``stop_group`` needs of a child: ``subprocess.Popen`` or ``zygote.ForkedChild``."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def stop_group(process: Stoppable, timeout_s: float) -> None:
    """SIGTERM the child's process group (the child alone if it has no group yet), then
    SIGKILL the group after ``timeout_s`` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:  # not yet its own session leader
        try:
            os.kill(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout_s)
    # Also ends grandchildren (Dramatiq's forked workers) that outlived their parent.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def on_stop_signals(callback: Callable[[str], None]) -> None:
    """Call ``callback(signal name)`` on SIGINT/SIGTERM, from a fresh thread, once per signal.

    A signal handler runs in the main thread between two bytecodes, possibly while that thread
    holds a lock (inside ``Event.wait``, say); calling ``Event.set`` right there can deadlock.
    Handing the work to another thread keeps the handler itself lock-free.
    """

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        threading.Thread(target=callback, args=(name,), name=f"on-{name}", daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


#: Env variable naming the pipe a child of ``qs dev`` writes to once it serves (``notify_ready``).
READY_FD_ENV = "QS_READY_FD"
#: Env variable naming the listening socket ``qs dev`` hands to its gateway (kept across reloads).
LISTEN_FD_ENV = "QS_LISTEN_FD"


def notify_ready() -> None:
    """Tell the ``qs dev`` supervisor that this process serves now; a no-op outside ``qs dev``.

    Only the first call writes (the variable is removed, so forked children stay quiet).
    """
    fd = os.environ.pop(READY_FD_ENV, "")
    if not fd.isdigit():
        return
    with contextlib.suppress(OSError):  # the supervisor gave up waiting: nobody reads
        os.write(int(fd), b"ready\n")
        os.close(int(fd))
