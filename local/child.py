"""One child of ``qs dev``: forked from the fork server, its output relayed, its readiness heard.

A child is given the write end of a pipe (``QS_READY_FD``) on which it writes once it serves
(``local.processes.notify_ready``), so that the supervisor replaces its predecessor only then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from local.processes import READY_FD_ENV, stop_group
from local.zygote import ForkedChild, spawn

#: Seconds a child gets to stop after SIGTERM before it is killed.
STOP_TIMEOUT_S = 15.0


@dataclass
class Child:
    """One supervised process; its output is relayed line by line with a name prefix."""

    name: str
    args: list[str]  #: ``qs`` arguments
    stop_timeout_s: float = STOP_TIMEOUT_S  #: SIGTERM, then SIGKILL after this many seconds
    #: descriptors the child inherits (the gateway's socket), by the variable naming each
    fds: dict[str, int] = field(default_factory=dict)
    process: ForkedChild | None = None
    started_at: float = 0.0  #: ``time.monotonic()`` at start
    relay: threading.Thread | None = field(default=None, repr=False)
    _ready: int | None = field(default=None, repr=False)

    def fresh(self) -> Child:
        """A new, not yet started child with the same command."""
        return dataclasses.replace(self, process=None, relay=None, _ready=None)

    def start(self, env: dict[str, str], out: IO[str], cwd: Path) -> Child:
        """Start ``qs <args>`` in ``cwd`` with ``env``; its output goes to ``out``."""
        read_end, write_end = os.pipe()
        try:
            fds = {READY_FD_ENV: write_end, **self.fds}
            self.process = spawn(self.args, env, str(cwd), fds)
        finally:
            os.close(write_end)
        self._ready, self.started_at = read_end, time.monotonic()
        self.relay = threading.Thread(target=self._relay, args=(out,), daemon=True)
        self.relay.start()
        return self

    def _relay(self, out: IO[str]) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            out.write(f"{self.name:<9}| {raw.decode(errors='replace')}")
            out.flush()

    def wait_ready(self, timeout_s: float, abort: Callable[[], bool]) -> bool:
        """True once the child says it serves; False if it exits first, ``timeout_s`` passes
        or ``abort()`` is true."""
        assert self.process is not None and self._ready is not None
        deadline = time.monotonic() + timeout_s
        try:
            while self.process.poll() is None and time.monotonic() < deadline:
                if abort():
                    return False
                readable, _, _ = select.select([self._ready], [], [], 0.05)
                if readable:
                    return bool(os.read(self._ready, 64))  # b"" (EOF): it closed without it
            return False
        finally:
            os.close(self._ready)
            self._ready = None

    def terminate(self) -> None:
        """SIGTERM the child's group now (``stop`` then waits for it)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def exit_code(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        if self._ready is not None:
            os.close(self._ready)
            self._ready = None
        if self.process is not None:
            stop_group(self.process, self.stop_timeout_s)
            if self.relay is not None:
                self.relay.join(timeout=2)
            self.process = None
