"""What every benchmark shares: result rows, child processes, the receiver, Redis, statistics."""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.embedded_redis import EmbeddedRedis, free_port

#: The repository root: every child process runs here.
ROOT = Path(__file__).resolve().parent.parent
#: Key prefix (and Dramatiq namespace root) of the service under test.
PREFIX = "qsbench"
#: The one API key the gateway under test accepts.
API_KEY = "benchkey"
#: Seconds a child gets between SIGTERM and SIGKILL.
STOP_TIMEOUT_S = 10.0
#: Seconds to wait for a child to start answering.
BOOT_TIMEOUT_S = 60.0

#: A seed ``POST /api/schedule-sms`` body (``delay`` is set per use).
SEED_SMS: dict[str, Any] = {
    "phoneNumber": "+14155550123",
    "message": "Your appointment is tomorrow at 10:00. Reply STOP to opt out.",
    "contactId": "contact-1",
    "workspaceId": "workspace-bench",
}


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the report."""

    metric: str
    ours: str
    baseline: str = ""
    target: str = ""
    verdict: str = ""  #: PASS / FAIL against the target, or "" when there is none


@dataclass
class Section:
    """One benchmark's rows and notes (e.g. caps that applied, problems seen in logs)."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *args: str) -> None:
        self.rows.append(Row(*args))


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def median_of(values: Sequence[float | None]) -> float | None:
    """The median of the figures there are (None when there are none)."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def spread_text(
    values: Sequence[float | None], digits: int = 0, unit: str = "", *, prefix: str = ""
) -> str:
    """``median (min-max)`` of several runs' figures, e.g. ``x1.05 (x0.98-x1.10)``."""
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"

    def one(v: float) -> str:
        return prefix + num(v, digits)

    text = f"{one(statistics.median(known))} ({one(min(known))}-{one(max(known))})"
    return f"{text} {unit}" if unit else text


def spread_verdict(
    values: Sequence[float | None], target: float, *, higher_is_better: bool = True
) -> tuple[str, str]:
    """(verdict cell, word) of several runs against ``target``: PASS / "met" when every run
    meets it, EDGE / "at the edge" when the target lies inside the runs' spread (the median
    decides the side: "at the edge, met" or "at the edge, missed"), FAIL / "missed" when no
    run meets it. ("", "not measured") without figures."""
    known = [v for v in values if v is not None]
    if not known:
        return "", "not measured"

    def meets(v: float) -> bool:
        return v >= target if higher_is_better else v <= target

    if all(meets(v) for v in known):
        return "PASS", "met"
    if not any(meets(v) for v in known):
        return "FAIL", "missed"
    side = "met" if meets(statistics.median(known)) else "missed"
    return ("EDGE" if side == "met" else "FAIL"), f"at the edge, {side}"


def num(value: float | None, digits: int = 0, unit: str = "") -> str:
    """``12,345`` / ``1.5 ms``; ``n/a`` for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}" if unit else text


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0-100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def say(bench: str, message: str) -> None:
    """A progress line (benchmarks take minutes; show they are moving)."""
    print(f"[{time.strftime('%H:%M:%S')}] {bench}: {message}", flush=True)


# --- configuration --------------------------------------------------------------------------


@dataclass
class Config:
    """Sizes and switches of one ``python -m bench`` run (see ``__main__`` for the flags)."""

    workdir: Path
    quick: bool = False
    baselines: bool = True
    delayed_n: int = 1_000_000
    delayed_due: int = 1_000  #: jobs due in 2 s after the big batch
    burst_runs: int = 5  #: bursts of those jobs (all due in one ms), one after the other
    baseline_delayed_n: int = 1_000_000
    baseline_enqueue_cap_s: float = 120.0
    lateness_timeout_s: float = 30.0
    delayed_processes: int = 2
    delayed_threads: int = 4
    throughput_m: int = 20_000
    throughput_processes: int = 2
    throughput_threads: int = 4
    throughput_scheduler: bool = True
    api_duration_s: int = 10
    api_connections: int = 64
    api_warmup_s: int = 2
    #: runs of ours and the peer, alternating, for the API, bulk and callbacks/s (verdict: median)
    api_runs: int = 5
    gateway_args: list[str] = field(default_factory=list)
    api_workers: int = 0  #: uvicorn workers of the naive baseline; 0: the gateway's --workers
    redis_requests: int = 200_000
    limits_jobs: int = 5_000  #: jobs through the 50/s limiter
    limits_campaign: int = 50_000  #: workspace A's campaign in the fair-share run
    limits_priority_n: int = 10_000  #: priority-5 jobs waiting in the priority run
    cluster_n: int = 20_000  #: jobs queued up front per repetition, over three queues
    cluster_repeats: int = 5  #: repetitions of each side (one Redis, the cluster), interleaved
    cluster_replicas: int = 0  #: replicas per master of the 3-master cluster
    cluster_processes: int = 2
    cluster_threads: int = 4
    hosts_n: int = 20_000  #: jobs queued up front per step of the hosts benchmark
    hosts_repeats: int = 5  #: repetitions of each host count (1, 2, 4), in alternating order
    hosts_processes: int = 1  #: ``qs worker -p`` on each host
    hosts_threads: int = 4  #: ``qs worker -t`` on each host
    dashboard_n: int = 1_000_000  #: jobs in Redis for the dashboard benchmark
    reload_n: int = 5  #: edits of serverless.yml timed in the reload benchmark
    imports_runs: int = 7  #: fresh interpreters per module in the imports benchmark
    ab_rounds: int = 5  #: interleaved rounds of the transport A/Bs (``bench.ab``)
    ab_callbacks: int = 5_000  #: callbacks per variant and round of the transport post A/B
    ab_threads: int = 8  #: threads sending at once in the post A/B (``WORKER_THREADS``' default)
    ab_drain_n: int = 10_000  #: queued SMS per variant and round of the transport drain A/B
    protocol_ab_rounds: int = 10  #: interleaved rounds of the protocol A/B (short ones)
    protocol_ab_s: int = 3  #: seconds of wrk per variant and round of the protocol A/B


# --- child processes ------------------------------------------------------------------------


def _strip_service_settings(env: dict[str, str]) -> dict[str, str]:
    """Drop variables our Settings would read, so the caller's shell cannot skew a run."""
    from shared.settings import Settings

    names = {name.upper() for name in Settings.model_fields}
    names |= {"DASHBOARD_USERNAME", "DASHBOARD_PASSWORD", "BULL_BOARD_USERNAME"}
    names |= {"BULL_BOARD_PASSWORD"}
    return {k: v for k, v in env.items() if k.upper() not in names}


def service_env(redis_url: str, receiver_url: str, **extra: str) -> dict[str, str]:
    """Environment of a ``qs`` (or baseline) child: embedded Redis, bench prefix, receiver."""
    env = _strip_service_settings(dict(os.environ))
    env.update(
        REDIS_URL=redis_url,
        REDIS_PREFIX=PREFIX,
        API_KEYS=API_KEY,
        SMS_API_URL=receiver_url,
        EMAIL_API_URL=receiver_url,
        LOG_LEVEL="WARNING",
        WORKER_SHUTDOWN_TIMEOUT_S="5",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def qs(command: str, *args: str) -> list[str]:
    """argv of ``qs <command>`` run from source with this interpreter."""
    return [sys.executable, "-m", "local.cli", command, *args]


class Child:
    """A child process in its own process group, with stdout/stderr captured to files."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = logdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped = False

    def start(self) -> Child:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the whole group, SIGKILL it after ``timeout_s``; always reaps. Idempotent."""
        if self.process is None or self.stopped:
            return
        self.stopped = True
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _group_exists(group):
            self.process.poll()  # reap the leader so the group can empty
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()

    def rss_mb(self) -> float:
        """Resident memory of this process and all its descendants, in MiB."""
        return sum(_rss_kib(pid) for pid in process_tree(self.pid)) / 1024

    def problems(self) -> list[str]:
        """Log lines that look like errors (ERROR, CRITICAL, Traceback), de-duplicated."""
        if not self.log_path.exists():
            return []
        seen: dict[str, int] = {}
        for line in self.log_path.read_text(errors="replace").splitlines():
            if re.search(r"\b(ERROR|CRITICAL|Traceback|Exception)\b", line):
                key = re.sub(r"\d+", "N", line.strip())[:160]
                seen[key] = seen.get(key, 0) + 1
        return [f"{count}x {line}" for line, count in seen.items()]


def _group_exists(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Children:
    """Children of one benchmark side, as a context manager: on exit (error or not) every child
    is stopped, newest first, and error lines of their logs are appended to ``notes``."""

    def __init__(self, logdir: Path, notes: list[str]) -> None:
        self.logdir = logdir
        self.notes = notes
        self.started: list[Child] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        for child in reversed(self.started):
            child.stop()
        for child in self.started:
            lines = child.problems()
            if lines:
                shown = "; ".join(lines[:3])
                more = f"; ... ({len(lines)} kinds)" if len(lines) > 3 else ""
                self.notes.append(f"`{child.name}` logged errors ({child.log_path}): {shown}{more}")

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, env, self.logdir)
        self.started.append(child)
        return child.start()


@contextlib.contextmanager
def embedded_redis(workdir: Path, name: str) -> Iterator[EmbeddedRedis]:
    """A throw-away embedded Redis (no persistence), stopped on exit."""
    server = EmbeddedRedis(workdir / f"redis-{name}", persist=False).start()
    try:
        yield server
    finally:
        server.stop()


#: Redis 7 from the distribution (the one ``tests.cluster`` runs its nodes with).
SYSTEM_REDIS = Path("/usr/bin/redis-server")


@contextlib.contextmanager
def system_redis(workdir: Path, name: str, host: str = "127.0.0.1") -> Iterator[str]:
    """A throw-away standalone ``/usr/bin/redis-server`` (Redis 7, no persistence, as the
    cluster nodes of ``tests.cluster`` are configured) listening on ``host``; yields its URL,
    stopped on exit. Bound to another address than loopback, protected mode is off (the
    address is a bench network's, e.g. ``bench.hosts``' bridge)."""
    import redis

    from local.processes import die_with_parent

    if not SYSTEM_REDIS.exists():
        raise RuntimeError(
            f"{SYSTEM_REDIS} (Redis 7) is missing: `apt-get install -y redis-server`"
        )
    folder = workdir / f"redis7-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        str(SYSTEM_REDIS), "--bind", host, "--port", str(port), "--dir", str(folder),
        "--logfile", str(folder / "redis.log"), "--appendonly", "no", "--save", "",
        "--maxmemory-policy", "noeviction", "--daemonize", "no",
    ]  # fmt: skip
    if host != "127.0.0.1":
        argv += ["--protected-mode", "no"]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent
    )
    url = f"redis://{host}:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
        if not wait_until(lambda: _pings(client) or process.poll() is not None, timeout_s=10):
            raise RuntimeError(f"{SYSTEM_REDIS} did not answer on port {port} (see {folder})")
        if process.poll() is not None:
            raise RuntimeError(f"{SYSTEM_REDIS} exited at start (see {folder}/redis.log)")
        client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pings(client: Any) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def use_redis(url: str, queue_limits: str = "{}") -> None:
    """Point this process's ``settings`` (hence ``JobStore``) at the single Redis ``url`` (a
    section before may have left ``redis_cluster`` on) under the bench prefix, with
    ``queue_limits`` (``QUEUE_LIMITS`` JSON) as the service children get them."""
    from pydantic import TypeAdapter

    from shared.settings import QueueLimitsSetting, settings

    settings.redis_url = url
    settings.redis_cluster = False
    settings.redis_prefix = PREFIX
    settings.queue_limits = TypeAdapter(dict[str, QueueLimitsSetting]).validate_json(queue_limits)


#: ``QUEUE_LIMITS`` that lifts the seed's SMS limits (50/s, 5 at once), for the benchmarks that
#: measure the scheduler and the workers rather than a limiter.
SMS_UNLIMITED = json.dumps({"sms": {"limiter": None, "concurrency": None}})


# --- the receiver ---------------------------------------------------------------------------


class Receiver:
    """Client of a ``bench.receiver`` child (see that module for its control endpoints)."""

    def __init__(
        self, children: Children, host: str = "127.0.0.1", *, delay_ms: float = 0.0
    ) -> None:
        self.host = host
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        argv = [sys.executable, "-m", "bench.receiver", "--host", host, "--port", str(self.port)]
        self.child = children.start(
            "receiver", [*argv, "--delay-ms", str(delay_ms)], dict(os.environ)
        )
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while True:
            try:
                self.count()
                return
            except OSError:
                if not self.child.alive() or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"receiver did not start; see {self.child.log_path}"
                    ) from None
                time.sleep(0.05)

    def _get(self, path: str, method: str = "GET") -> dict[str, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, "/__bench/" + path)
            return dict(json.loads(conn.getresponse().read()))
        finally:
            conn.close()

    def reset(self, *, ids: bool) -> None:
        self._get("reset?ids=1" if ids else "reset", method="POST")

    def count(self) -> int:
        return int(self._get("count")["count"])

    def records(self) -> tuple[list[float], list[str]]:
        """(arrival times as unix seconds, job ids when recording ids)."""
        reply = self._get("records")
        return list(reply["times"]), list(reply["ids"])

    def wait_for(
        self, count: int, *, timeout_s: float, bench: str, stall_s: float | None = None
    ) -> int:
        """Poll until ``count`` requests arrived, ``timeout_s`` passed, or none came for
        ``stall_s`` seconds; returns the count reached."""
        start = last_change = last_print = time.monotonic()
        seen = self.count()
        while seen < count:
            now = time.monotonic()
            if now - start > timeout_s or (stall_s is not None and now - last_change > stall_s):
                break
            if now - last_print >= 2.0:
                say(bench, f"received {seen:,}/{count:,}")
                last_print = now
            time.sleep(0.1)
            current = self.count()
            if current != seen:
                seen, last_change = current, time.monotonic()
        return seen


# --- tools ----------------------------------------------------------------------------------


def tool(name: str) -> str | None:
    """Path of an external tool (``wrk``, ``redis-benchmark``), or None when not installed."""
    return shutil.which(name)


def wait_until(check: Any, *, timeout_s: float, interval_s: float = 0.1) -> bool:
    """Call ``check()`` until it is truthy or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval_s)
    return bool(check())


def measure(cfg: Config, name: str, notes: list[str], ours: Any, baseline: Any, *extra: Any) -> Any:
    """Run ``ours`` then (unless ``--no-baselines``) ``baseline``, each as
    ``fn(cfg, logdir, *extra, notes)``; returns (ours' outcome, baseline's or None, a formatter
    that writes "skipped" in the baseline column when there is none)."""
    logdir = cfg.workdir / name
    logdir.mkdir(parents=True, exist_ok=True)
    mine = ours(cfg, logdir, *extra, notes)
    base = baseline(cfg, logdir, *extra, notes) if cfg.baselines else None

    def column(text: str) -> str:
        return text if base is not None else "skipped"

    return mine, base, column


@contextlib.contextmanager
def our_service(
    cfg: Config,
    name: str,
    logdir: Path,
    notes: list[str],
    queue_limits: str = SMS_UNLIMITED,
    receiver_delay_ms: float = 0.0,
) -> Iterator[tuple[Children, Receiver, dict[str, str], Any]]:
    """A fresh embedded Redis, a receiver (answering ``receiver_delay_ms`` late), the service's
    environment and a job store on it, all with ``queue_limits`` (``QUEUE_LIMITS`` JSON;
    default: SMS without limits)."""
    from shared.jobs.store import JobStore

    with (
        embedded_redis(cfg.workdir, f"{name}-ours") as redis_server,
        Children(logdir, notes) as children,
    ):
        receiver = Receiver(children, delay_ms=receiver_delay_ms)
        env = service_env(redis_server.url, receiver.url, QUEUE_LIMITS=queue_limits)
        use_redis(redis_server.url, queue_limits)
        yield children, receiver, env, JobStore()
