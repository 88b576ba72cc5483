"""Child-process helpers shared by ``qs dev`` and the embedded Redis."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import Any

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


def stop_group(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM the child's process group, then SIGKILL it after ``timeout_s`` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
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
