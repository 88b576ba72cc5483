"""``qs dev``: embedded Redis, gateway, workers and scheduler under one supervisor.

Children run in their own process groups, so Ctrl-C reaches only the supervisor, which stops
them in order (gateway, scheduler, workers — letting in-flight jobs finish — then Redis).

A change to ``functions/``, ``shared/``, ``local/``, ``serverless.yml`` or ``.env`` (a save, an
append, a ``sed -i`` that replaces the file) reloads: ``.env`` and ``serverless.yml`` are read
first, and a broken one is reported while the running version keeps serving. Then a new gateway
starts beside the old one on the same listening socket, which the supervisor owns (requests
wait in its backlog, none is refused); once it serves, the old one stops, and workers and
scheduler are replaced the same way. A child that fails to start with the change is reported
and its predecessor keeps running. A child that dies on its own is reported and restarted (one
that dies within ``CRASH_LOOP_S`` of starting waits for the next change instead); so is the
embedded Redis. Redis and its data stay up across reloads. Children are forked from a process
that has the third-party libraries imported already (``local.zygote``): a reload serves in
about 0.2 s instead of 1 to 3 s of imports.

``<data dir>/dev.env`` tells the other ``qs`` commands where this Redis is and which API key
it made up (``local.devenv``).
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from local import devenv
from local.child import STOP_TIMEOUT_S, Child
from local.embedded_redis import EmbeddedRedis
from local.manifest import Manifest, load
from local.processes import LISTEN_FD_ENV, on_stop_signals
from local.watch import Changes, watch_project
from local.zygote import context
from shared.settings import Settings

#: Project root: the folder holding ``serverless.yml``.
ROOT = Path(__file__).resolve().parent.parent
#: Handler threads of the dev gateway, so a function's timeout is enforced as in Lambda.
DEV_GATEWAY_THREADS = 2
#: Longest wait for a new child to say it serves, in seconds; past it, the old one stays.
READY_TIMEOUT_S = 60.0
#: A child that dies sooner than this many seconds after starting is not restarted at once
#: (it would only crash again): the next change restarts it.
CRASH_LOOP_S = 5.0
#: How often the supervisor looks for children that died, in seconds.
CHECK_EVERY_S = 0.5


def _secret_file(path: Path, length: int = 24) -> str:
    """A random secret kept in ``path`` so it stays the same across ``qs dev`` runs."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(length)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def _changed_paths(changes: Iterable[tuple[Any, str]]) -> str:
    names = sorted({os.path.relpath(path, ROOT) for _, path in changes})
    return ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")


def load_settings() -> Settings:
    """The settings the children will see: the environment, then the project's ``.env``."""
    return Settings(_env_file=ROOT / ".env")


def check_manifest(path: Path) -> Manifest:
    """``serverless.yml`` parsed, with every handler's module present; ``ValueError`` if not."""
    try:
        manifest = load(path)
    except Exception as exc:  # YAML syntax, a missing key, a document that is not a mapping
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    for fn in manifest.functions.values():
        module = ROOT.joinpath(*fn.module.split("."))
        if not (module.with_suffix(".py").is_file() or (module / "__init__.py").is_file()):
            raise ValueError(f"function {fn.name!r}: handler module {fn.module} does not exist")
    return manifest


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " / ".join(lines[:3])


class DevServer:
    """The whole service on one machine, for development."""

    def __init__(
        self, *, host: str, port: int, threads: int, reload: bool, data_dir: Path, out: IO[str]
    ) -> None:
        self.host, self.port, self.threads, self.reload = host, port, threads, reload
        self.data_dir = data_dir
        self.out = out
        self.stopping = threading.Event()
        self.redis: EmbeddedRedis | None = None
        self.listener: socket.socket | None = None
        self.changes: queue.Queue[Changes] = queue.Queue()
        self.current: dict[str, Child] = {}  #: the running generation, by name
        self.cfg: Settings | None = None  #: the settings of the running generation
        self.generated: dict[str, str] = {}  #: secrets made up here, for ``dev.env``
        self.retiring: list[threading.Thread] = []  #: old generations being stopped
        self.shown: dict[str, str] = {}  #: what the banner said last

    def specs(self, cfg: Settings) -> list[Child]:
        """The children, gateway first (it is what a developer waits for)."""
        gateway = ["--workers", "1", "--threads", str(DEV_GATEWAY_THREADS)]
        assert self.listener is not None
        return [
            # one process, handlers in threads: Lambda's timeouts hold, as a developer expects
            Child(
                "gateway",
                ["gateway", "--host", self.host, "--port", str(self.port), *gateway],
                fds={LISTEN_FD_ENV: self.listener.fileno()},
            ),
            Child(
                "worker",
                ["worker", "--processes", "1", "--threads", str(self.threads)],
                # SIGKILL only once its jobs in flight have had their time to finish
                stop_timeout_s=cfg.worker_shutdown_timeout_s + STOP_TIMEOUT_S,
            ),
            Child("scheduler", ["scheduler"]),
        ]

    def say(self, line: str) -> None:
        self.out.write(f"{'qs dev':<9}| {line}\n")
        self.out.flush()

    # --- environment -------------------------------------------------------------------------

    def environment(self, cfg: Settings) -> dict[str, str]:
        """Children's environment: the caller's, plus Redis URL and credentials that ``cfg``
        (the environment and ``.env``) leaves unset."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # an empty REDIS_URL / REDIS_HOST means "not set", as everywhere else
        if devenv.explicit_redis(cfg):
            env["REDIS_URL"] = cfg.resolved_redis_url()
        else:
            if self.redis is None:
                self.redis = EmbeddedRedis(self.data_dir / "redis").start()
            env["REDIS_URL"] = self.redis.url
        self.generated = {}
        if not (cfg.parsed_api_keys() or cfg.service_token):
            self.generated["API_KEYS"] = _secret_file(self.data_dir / "dev-api-key")
        if not cfg.dashboard_password:
            self.generated["DASHBOARD_PASSWORD"] = _secret_file(
                self.data_dir / "dashboard-password", 12
            )
        env.update(self.generated)
        self.cfg = cfg
        return env

    def dev_env_values(self, env: dict[str, str]) -> dict[str, str]:
        """What ``dev.env`` tells the other commands: this Redis and the generated secrets."""
        return {"REDIS_URL": env["REDIS_URL"], "QS_DEV_URL": self.url, **self.generated}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def banner(self, cfg: Settings, env: dict[str, str]) -> None:
        """The URL, Redis and credentials in use; on a reload, only the lines that changed."""
        key = env.get("API_KEYS", cfg.api_keys).split(",")[0].rpartition(":")[2]
        key = key or cfg.service_token
        redis_kind = (
            "embedded, data in " + str(self.data_dir / "redis")
            if self.redis and env["REDIS_URL"] == self.redis.url
            else "external"
        )
        password = env.get("DASHBOARD_PASSWORD", cfg.dashboard_password)
        lines = {
            "gateway": f"gateway    {self.url}   (health: /api/health)",
            "redis": f"redis      {env['REDIS_URL']}   ({redis_kind})",
            "key": f"API key    {key}   (Authorization: Bearer <key>)",
            "dashboard": (
                f"dashboard  {self.url}/admin/queues   ({cfg.dashboard_username} / {password})"
            ),
            "reload": f"hot reload {'on' if self.reload else 'off'};  Ctrl-C stops everything",
            "dev.env": f"dev.env    {self.data_dir / 'dev.env'}   (read by qs invoke, worker, ...)",
        }
        for name, line in lines.items():
            if self.shown.get(name) != line:
                self.say(line)
        self.shown = lines

    # --- children ----------------------------------------------------------------------------

    def _retire(self, child: Child | None) -> None:
        """Stop ``child`` in the background (its jobs in flight may take a while)."""
        if child is None:
            return
        child.terminate()  # at once: an old gateway stops accepting before the next request
        self.retiring = [t for t in self.retiring if t.is_alive()]
        thread = threading.Thread(target=child.stop, name=f"stop-{child.name}", daemon=True)
        thread.start()
        self.retiring.append(thread)

    def _replace(
        self,
        specs: list[Child],
        env: dict[str, str],
        superseded: Callable[[], bool] = lambda: False,
    ) -> list[str]:
        """Start ``specs`` together; each that serves replaces its predecessor, each that does
        not is stopped (the predecessor keeps running). The names that failed. Waiting stops
        at Ctrl-C, or once ``superseded()`` (a newer change to reload for) is true."""
        started = [spec.fresh().start(env, self.out, ROOT) for spec in specs]
        failed = []
        for new in started:
            if new.wait_ready(READY_TIMEOUT_S, lambda: self.stopping.is_set() or superseded()):
                self._retire(self.current.get(new.name))
                self.current[new.name] = new
                continue
            if self.stopping.is_set() or superseded():
                self._retire(new)  # the running one stays until the next generation serves
                continue
            assert new.process is not None
            with contextlib.suppress(subprocess.TimeoutExpired):  # the pipe closes first
                new.process.wait(timeout=5)
            code = new.exit_code()
            new.stop()
            failed.append(new.name)
            how = f"exited with code {code}" if code is not None else "did not get ready"
            old = self.current.get(new.name)
            if old is not None and old.exit_code() is None:
                self.say(
                    f"{new.name} {how} with this change (its output is above); the previous "
                    f"{new.name} keeps running; save a fix to retry"
                )
            else:
                self.current.pop(new.name, None)
                self.say(f"{new.name} {how} (its output is above); save a fix to retry")
        return failed

    def roll(self, cfg: Settings, env: dict[str, str]) -> float | None:
        """Start a new generation of every child; seconds until the new gateway served (None
        if it did not)."""
        started = time.monotonic()
        gateway, *rest = self.specs(cfg)
        failed = self._replace([gateway], env)
        gateway_s = time.monotonic() - started
        # workers and scheduler take longer to start: a change saved meanwhile is not held up
        self._replace(rest, env, superseded=lambda: not self.changes.empty())
        return None if failed else gateway_s

    def check_children(self, env: dict[str, str]) -> None:
        """Report children (and the embedded Redis) that died on their own, and restart them."""
        if self.redis is not None and self.redis.process is not None:
            code = self.redis.process.poll()
            if code is not None:
                self.say(f"embedded Redis exited (code {code}); restarting it with its data")
                self.redis.process = None
                try:
                    self.redis.start()
                except RuntimeError as exc:
                    self.say(f"{_first_line(exc)}; stop qs dev (Ctrl-C) and start it again")
        for name, child in list(self.current.items()):
            code = child.exit_code()
            if code is None or self.stopping.is_set():
                continue
            uptime = time.monotonic() - child.started_at
            del self.current[name]
            child.stop()
            if uptime < CRASH_LOOP_S:
                self.say(
                    f"{name} exited with code {code} {uptime:.1f} s after it started (its output "
                    "is above); it restarts on the next change to the code, .env or serverless.yml"
                )
                continue
            self.say(f"{name} exited unexpectedly with code {code}; restarting it")
            assert self.cfg is not None
            spec = next(s for s in self.specs(self.cfg) if s.name == name)
            self._replace([spec], env)

    def stop_children(self) -> None:
        for name in ("gateway", "scheduler", "worker"):  # workers last: in-flight jobs finish
            child = self.current.pop(name, None)
            if child is not None:
                child.stop()
        for thread in self.retiring:
            thread.join()

    # --- main loop ---------------------------------------------------------------------------

    def run(self) -> int:
        dev_env = self.data_dir / "dev.env"
        try:
            try:
                cfg = load_settings()
                check_manifest(ROOT / "serverless.yml")
            except ValueError as exc:  # pydantic's ValidationError is one
                self.say(f"cannot start: {exc}")
                return 1
            try:
                self.listener = socket.create_server((self.host, self.port), backlog=1024)
            except OSError as exc:
                self.say(f"cannot listen on {self.host}:{self.port}: {exc.strerror}")
                return 1
            on_stop_signals(lambda _: self.stopping.set())
            context()  # the fork server starts preloading while Redis starts
            self.port = self.listener.getsockname()[1]
            env = self.environment(cfg)
            self.banner(cfg, env)
            devenv.write(dev_env, self.dev_env_values(env))
            if self.reload:  # first: a change made while the children start is not missed
                watch_project(ROOT, self.stopping, self.changes.put)
            started = time.monotonic()
            self.roll(cfg, env)
            running = ", ".join(n for n in ("gateway", "worker", "scheduler") if n in self.current)
            self.say(f"up after {time.monotonic() - started:.2f} s: {running or 'nothing'}")
            self._loop(env)
        finally:
            self.say("stopping ...")
            self.stopping.set()
            self.stop_children()
            devenv.remove(dev_env)
            if self.listener is not None:
                self.listener.close()
            if self.redis is not None:
                self.redis.stop()
            self.say("stopped")
        return 0

    def _loop(self, env: dict[str, str]) -> None:
        while not self.stopping.is_set():
            try:
                changes = self.changes.get(timeout=CHECK_EVERY_S)
            except queue.Empty:
                self.check_children(env)
                continue
            while not self.changes.empty():  # changes that queued up during the last reload
                changes |= self.changes.get_nowait()
            env = self.reload_after(changes, env)

    def reload_after(self, changes: Changes, env: dict[str, str]) -> dict[str, str]:
        """One reload; the children's environment from now on (``env`` if nothing started)."""
        started = time.monotonic()
        self.say(f"reloading: {_changed_paths(changes)} changed")
        try:
            cfg = load_settings()
        except ValueError as exc:
            self.say(f".env is invalid; the running version keeps serving: {_first_line(exc)}")
            return env
        try:
            check_manifest(ROOT / "serverless.yml")
        except ValueError as exc:
            self.say(
                f"serverless.yml is invalid; the running version keeps serving: {_first_line(exc)}"
            )
            return env
        env = self.environment(cfg)
        self.banner(cfg, env)
        devenv.write(self.data_dir / "dev.env", self.dev_env_values(env))
        gateway_s = self.roll(cfg, env)
        gateway = (
            "not the gateway" if gateway_s is None else f"gateway serving after {gateway_s:.2f} s"
        )
        self.say(f"reloaded: {gateway}, all after {time.monotonic() - started:.2f} s")
        return env
