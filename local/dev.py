"""``qs dev``: embedded Redis, gateway, workers and scheduler under one supervisor.

Children run in their own process groups, so Ctrl-C reaches only the supervisor, which stops
them in order (gateway, scheduler, workers — letting in-flight jobs finish — then Redis). A
change to ``functions/``, ``shared/``, ``local/``, ``serverless.yml`` or ``.env`` restarts
gateway, workers and scheduler; Redis and its data stay up.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import watchfiles

from local.embedded_redis import EmbeddedRedis
from local.processes import die_with_parent, on_stop_signals, stop_group
from shared.settings import settings

#: Project root: the folder holding ``serverless.yml``.
ROOT = Path(__file__).resolve().parent.parent
#: What a change to restarts the app processes.
WATCHED = ("functions", "shared", "local", "serverless.yml", ".env")
#: Seconds a child gets to stop after SIGTERM before it is killed (the worker gets
#: ``WORKER_SHUTDOWN_TIMEOUT_S`` plus this, so its jobs in flight finish as promised).
STOP_TIMEOUT_S = 15.0
#: Handler threads of the dev gateway, so a function's timeout is enforced as in Lambda.
DEV_GATEWAY_THREADS = 2


@dataclass
class Child:
    """One supervised process; its output is relayed line by line with a name prefix."""

    name: str
    argv: list[str]
    stop_timeout_s: float = STOP_TIMEOUT_S  #: SIGTERM, then SIGKILL after this many seconds
    process: subprocess.Popen[bytes] | None = None
    relay: threading.Thread | None = field(default=None, repr=False)

    def start(self, env: dict[str, str], out: IO[str]) -> None:
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to the supervisor only
            preexec_fn=die_with_parent,
        )
        self.relay = threading.Thread(target=self._relay, args=(out,), daemon=True)
        self.relay.start()

    def _relay(self, out: IO[str]) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            out.write(f"{self.name:<9}| {raw.decode(errors='replace')}")
            out.flush()

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process, self.stop_timeout_s)
            if self.relay is not None:
                self.relay.join(timeout=2)
            self.process = None


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
        python = [sys.executable, "-m", "local.cli"]
        gateway = ["--workers", "1", "--threads", str(DEV_GATEWAY_THREADS)]
        self.children = [
            # one process, handlers in threads: Lambda's timeouts hold, as a developer expects
            Child("gateway", [*python, "gateway", "--host", host, "--port", str(port), *gateway]),
            Child("scheduler", [*python, "scheduler"]),
            Child(
                "worker",
                [*python, "worker", "--processes", "1", "--threads", str(threads)],
                stop_timeout_s=settings.worker_shutdown_timeout_s + STOP_TIMEOUT_S,
            ),
        ]

    def say(self, line: str) -> None:
        self.out.write(f"{'qs dev':<9}| {line}\n")
        self.out.flush()

    def environment(self) -> dict[str, str]:
        """Children's environment: the caller's, plus Redis URL and credentials."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # an empty REDIS_URL / REDIS_HOST means "not set", as everywhere else
        explicit_redis = bool(settings.redis_url) or (
            "redis_host" in settings.model_fields_set and bool(settings.redis_host)
        )
        if explicit_redis:
            env["REDIS_URL"] = settings.resolved_redis_url()
        else:
            self.redis = EmbeddedRedis(self.data_dir / "redis").start()
            env["REDIS_URL"] = self.redis.url
        if not (settings.parsed_api_keys() or settings.service_token):
            env["API_KEYS"] = _secret_file(self.data_dir / "dev-api-key")
        if not settings.dashboard_password:
            env["DASHBOARD_PASSWORD"] = _secret_file(self.data_dir / "dashboard-password", 12)
        return env

    def banner(self, env: dict[str, str]) -> None:
        key = env.get("API_KEYS", settings.api_keys).split(",")[0].rpartition(":")[2]
        key = key or settings.service_token
        redis_kind = (
            "embedded, data in " + str(self.data_dir / "redis") if self.redis else "external"
        )
        self.say(f"gateway    http://{self.host}:{self.port}   (health: /api/health)")
        self.say(f"redis      {env['REDIS_URL']}   ({redis_kind})")
        self.say(f"API key    {key}   (Authorization: Bearer <key>)")
        user = settings.dashboard_username
        self.say(
            f"dashboard  {user} / {env.get('DASHBOARD_PASSWORD', settings.dashboard_password)}"
        )
        self.say("hot reload " + ("on" if self.reload else "off") + ";  Ctrl-C stops everything")

    def start_children(self, env: dict[str, str]) -> None:
        for child in self.children:
            child.start(env, self.out)

    def stop_children(self) -> None:
        for child in self.children:  # gateway first, workers last: in-flight jobs finish
            child.stop()

    def run(self) -> int:
        on_stop_signals(lambda _: self.stopping.set())
        try:
            env = self.environment()
            self.banner(env)
            self.start_children(env)
            if self.reload:
                self._watch(env)
            else:
                self.stopping.wait()
        finally:
            self.say("stopping ...")
            self.stop_children()
            if self.redis is not None:
                self.redis.stop()
            self.say("stopped")
        return 0

    def _watch(self, env: dict[str, str]) -> None:
        paths = [ROOT / p for p in WATCHED if (ROOT / p).exists()]
        for changes in watchfiles.watch(
            *paths,
            watch_filter=lambda _, path: path.endswith((".py", ".lua", ".yml", ".env")),
            stop_event=self.stopping,
            debounce=300,
            raise_interrupt=False,
        ):
            self.say(f"reloading: {_changed_paths(changes)} changed")
            self.stop_children()
            self.start_children(env)
