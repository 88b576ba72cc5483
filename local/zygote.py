"""Start ``qs`` child processes for ``qs dev`` fast: forked from a warm process.

A reload used to spend most of its time importing third-party libraries (pydantic, Starlette,
uvicorn, Redis, Dramatiq …) in every new process: about 1 s of the gateway's start on a busy
2-core machine. ``qs dev`` therefore starts children through a ``multiprocessing`` fork server
that has imported those libraries once (never this project's own modules, so every child
imports the code as it is on disk now). A child gets its own session (Ctrl-C reaches only the
supervisor), its output on a pipe, ``SIGTERM`` when the fork server goes (which goes with the
supervisor), and runs ``qs <args>`` as ``python -m local.cli <args>`` would.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import types
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import DupFd
from typing import IO, Any

from local.processes import die_with_parent

#: What the fork server imports once: the third-party libraries this project's code imports.
PRELOAD = [
    "dramatiq", "dramatiq.brokers.redis", "dramatiq.middleware", "periodiq",
    "httpx", "pendulum", "yaml", "redis", "redis.asyncio", "redis.cluster", "redis.sentinel",
    "pydantic", "prometheus_client", "jwt", "jwt.algorithms", "jinja2",
    "starlette.applications", "starlette.requests", "starlette.responses", "starlette.routing",
    "uvicorn", "uvicorn.server", "uvicorn.config", "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on", "uvloop", "httptools",
]  # fmt: skip

_context: ForkServerContext | None = None


def context() -> ForkServerContext:
    """The fork server context, its server started (and preloading) on the first call."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()
    return _context


class ForkedChild:
    """A ``subprocess.Popen``-like handle (``pid``, ``stdout``, ``poll``, ``wait``) on a child
    forked by the fork server."""

    def __init__(self, process: BaseProcess, stdout: IO[bytes]) -> None:
        self._process = process
        self.stdout = stdout
        assert process.pid is not None
        self.pid: int = process.pid

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired(f"qs child {self.pid}", timeout or 0)
        return code


def spawn(args: list[str], env: dict[str, str], cwd: str, fds: dict[str, int]) -> ForkedChild:
    """Run ``qs <args>`` in a forked child with environment ``env`` (plus, for each
    ``name: fd`` of ``fds``, the variable ``name`` set to the child's copy of ``fd``)."""
    read_end, write_end = os.pipe()
    try:
        process = context().Process(
            target=_child_main,
            args=(args, env, cwd, DupFd(write_end), {name: DupFd(fd) for name, fd in fds.items()}),
            name=f"qs {args[0]}",
        )
        # The child would first re-import this process's __main__ (``local.cli``, and with it
        # the settings, read from the fork server's environment instead of ``env``): show it
        # an empty one while it is launched.
        main, sys.modules["__main__"] = sys.modules["__main__"], types.ModuleType("__main__")
        try:
            process.start()
        finally:
            sys.modules["__main__"] = main
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return ForkedChild(process, os.fdopen(read_end, "rb"))


def _child_main(args: list[str], env: dict[str, str], cwd: str, out: Any, fds: Any) -> None:
    """In the child: its own session, output to the pipe, then ``qs <args>``."""
    os.setsid()
    die_with_parent()
    pipe = out.detach()
    os.dup2(pipe, 1)
    os.dup2(pipe, 2)
    os.close(pipe)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as we do
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    os.environ.update({name: str(fd.detach()) for name, fd in fds.items()})
    _forget_fork_server()
    sys.argv = ["qs", *args]
    from local.cli import main

    sys.exit(main(args))


def _forget_fork_server() -> None:
    """Drop this child's link to the fork server (after the descriptors passed are taken).

    multiprocessing gives every child the fork server's "alive" pipe, so that it could ask
    the same server for children of its own; but the server stops only once every holder of
    that pipe has closed it, and the children stop only when the server does (SIGTERM on its
    death): had the supervisor been killed, they would all have stayed. Closed here, the
    supervisor is the only holder, and its death ends the server, then the children. The
    child starts a fork server of its own if it needs one (``shared.ai.isolation`` does).
    """
    server = forkserver._forkserver  # private: there is no public way to detach from it
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:
        os.close(alive)
    server.__init__()  # type: ignore[misc]  # not connected, not running, default preload
