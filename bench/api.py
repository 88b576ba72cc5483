"""Benchmark ``api``: ``POST /api/schedule-sms`` through ``qs gateway`` under wrk.

Issue: >= 5,000 req/s at 64 connections with p99 <= 50 ms, and >= 1.0x the seeds' Fastify +
BullMQ measured in the same run (``bench.peers.bullmq``: its own fresh Redis of the same build,
the same wrk load). Baselines: a naive Starlette + Dramatiq ``send()`` endpoint on uvicorn with
the same worker count, and redis-benchmark's LPUSH / EVAL as the Redis ceiling. Every request
schedules a seed SMS one hour ahead, so no worker is needed.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    API_KEY,
    BOOT_TIMEOUT_S,
    SEED_SMS,
    Children,
    Config,
    Section,
    embedded_redis,
    median_of,
    num,
    qs,
    say,
    service_env,
    spread_text,
    spread_verdict,
    tool,
    use_redis,
    verdict,
)
from bench.peers import bullmq
from bench.redis_bench import redis_benchmark

NAME = "api"
PATH = "/api/schedule-sms"
BODY = json.dumps({**SEED_SMS, "delay": 3_600_000})
#: Targets: requests/s and p99 latency in ms.
TARGET_RPS, TARGET_P99_MS = 5_000.0, 50.0
#: Target of ours against the peer (Fastify + BullMQ, same run): ours / theirs requests/s.
TARGET_PEER_RATIO = 1.0
#: Bulk scheduling: requests of BULK_SIZE SMS each, BULK_CLIENTS at a time; target jobs/s ratio.
BULK_PATH, BULK_BATCHES, BULK_SIZE, BULK_CLIENTS = PATH + "/bulk", 20, 1_000, 4
TARGET_BULK_RATIO = 1.5

_WRK_SCRIPT = f"""wrk.method = "POST"
wrk.body = [==[{BODY}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {API_KEY}"
"""
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Wrk:
    """What one wrk run reported."""

    rps: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests: int = 0
    non_2xx: int = 0
    socket_errors: int = 0

    @property
    def ok_responses(self) -> int:
        return self.requests - self.non_2xx


def parse_wrk(out: str) -> Wrk:
    def latency(pct: str) -> float | None:
        match = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(match.group(1)) * _UNITS_MS[match.group(2)] if match else None

    result = Wrk(p50_ms=latency("50"), p99_ms=latency("99"))
    if match := re.search(r"Requests/sec:\s+([\d.]+)", out):
        result.rps = float(match.group(1))
    if match := re.search(r"(\d+) requests in", out):
        result.requests = int(match.group(1))
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        result.non_2xx = int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        result.socket_errors = sum(int(g) for g in match.groups())
    return result


def run_wrk(port: int, cfg: Config, script: Path, duration_s: int, log: Path) -> Wrk:
    exe = tool("wrk")
    assert exe is not None
    argv = [exe, "-t1", f"-c{cfg.api_connections}", f"-d{duration_s}s", "--latency"]
    argv += ["-s", str(script), f"http://127.0.0.1:{port}{PATH}"]
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + 60, check=True
    ).stdout
    with log.open("a") as f:
        f.write(f"$ {' '.join(argv)}\n{out}\n")
    return parse_wrk(out)


def sample(port: int) -> tuple[int, str]:
    """POST one request; (status, body). Raises OSError while nothing listens."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
        conn.request("POST", PATH, body=BODY, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def wait_ready(port: int, alive: Callable[[], bool], name: str) -> None:
    """Until a sample request is answered 202 (fail fast on any other answer)."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while True:
        try:
            status, body = sample(port)
        except OSError:
            if time.monotonic() > deadline or not alive():
                raise RuntimeError(f"{name} did not start answering on port {port}") from None
            time.sleep(0.1)
            continue
        if status != 202:
            raise RuntimeError(f"{name}: sample request answered {status}: {body[:300]}")
        return


def _gateway_workers(args: list[str]) -> int:
    """The gateway's processes: ``--workers N`` among the extra gateway arguments, else the
    default of ``qs gateway`` (``GATEWAY_WORKERS=0``: the machine's CPUs + 1)."""
    from local.gateway import process_count

    requested = 0
    for i, arg in enumerate(args):
        if arg == "--workers" and i + 1 < len(args):
            requested = int(args[i + 1])
        elif arg.startswith("--workers="):
            requested = int(arg.split("=", 1)[1])
    return process_count(requested)


def run_ours(cfg: Config, logdir: Path, script: Path, notes: list[str]) -> Wrk:
    from local.embedded_redis import free_port
    from shared.jobs.store import JobStore

    bench = f"{NAME}/ours"
    with (
        embedded_redis(cfg.workdir, "api-ours") as redis_server,
        Children(logdir, notes) as children,
    ):
        env = service_env(redis_server.url, "http://127.0.0.1:9")
        use_redis(redis_server.url)
        store = JobStore()
        port = free_port()
        gateway = children.start(
            "ours-gateway", qs("gateway", "--port", str(port), *cfg.gateway_args), env
        )
        wait_ready(port, gateway.alive, "qs gateway")
        if cfg.api_warmup_s:
            say(bench, f"warm-up {cfg.api_warmup_s} s")
            run_wrk(port, cfg, script, cfg.api_warmup_s, logdir / f"wrk-{bench.split('/')[1]}.log")
        before = store.count("sms", "delayed")
        say(bench, f"wrk -c{cfg.api_connections} -d{cfg.api_duration_s}s")
        result = run_wrk(
            port, cfg, script, cfg.api_duration_s, logdir / f"wrk-{bench.split('/')[1]}.log"
        )
        time.sleep(0.5)  # requests cut off at the end may still be finishing
        stored = store.count("sms", "delayed") - before
        if stored < result.ok_responses:
            notes.append(
                f"ours: LOST JOBS: {result.ok_responses:,} requests answered 2xx "
                f"but only {stored:,} jobs stored"
            )
        if not gateway.alive():
            notes.append("ours: the gateway exited during the run")
    return result


def run_baseline(cfg: Config, logdir: Path, script: Path, notes: list[str]) -> Wrk:
    from local.embedded_redis import free_port

    bench = f"{NAME}/baseline"
    workers = cfg.api_workers or _gateway_workers(cfg.gateway_args)
    with (
        embedded_redis(cfg.workdir, "api-baseline") as redis_server,
        Children(logdir, notes) as children,
    ):
        env = service_env(
            redis_server.url,
            "http://127.0.0.1:9",
            BENCH_REDIS_URL=redis_server.url,
            BENCH_NAMESPACE="qsbench-baseline",
        )
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "bench.naive_api:app", "--port", str(port)]
        argv += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
        server = children.start("baseline-api", argv, env)
        wait_ready(port, server.alive, "naive Starlette + Dramatiq API")
        if cfg.api_warmup_s:
            say(bench, f"warm-up {cfg.api_warmup_s} s")
            run_wrk(port, cfg, script, cfg.api_warmup_s, logdir / f"wrk-{bench.split('/')[1]}.log")
        say(bench, f"wrk -c{cfg.api_connections} -d{cfg.api_duration_s}s (uvicorn x{workers})")
        result = run_wrk(
            port, cfg, script, cfg.api_duration_s, logdir / f"wrk-{bench.split('/')[1]}.log"
        )
        if not server.alive():
            notes.append("baseline: the naive API exited during the run")
    return result


def run_peer(cfg: Config, logdir: Path, script: Path, notes: list[str]) -> Wrk | None:
    """Fastify + BullMQ (one Node process, as the seed runs it) under the same wrk load; None
    (with the reason in ``notes``) when the peer cannot run here."""
    import redis

    from local.embedded_redis import free_port

    if reason := bullmq.unavailable():
        notes.append(reason)
        return None
    bench = f"{NAME}/peer"
    with (
        embedded_redis(cfg.workdir, "api-peer") as redis_server,
        Children(logdir, notes) as children,
    ):
        port = free_port()
        env = bullmq.env_for(redis_server.url, "http://127.0.0.1:9", port)
        env["API_KEYS"] = API_KEY
        server = children.start("peer-api", bullmq.node_argv("api"), env)
        wait_ready(port, server.alive, f"{bullmq.LABEL} peer")
        log = logdir / "wrk-peer.log"
        if cfg.api_warmup_s:
            say(bench, f"warm-up {cfg.api_warmup_s} s")
            run_wrk(port, cfg, script, cfg.api_warmup_s, log)
        client = redis.Redis.from_url(redis_server.url)
        delayed = f"{bullmq.PREFIX}:sms:delayed"
        before = int(client.zcard(delayed))
        say(bench, f"wrk -c{cfg.api_connections} -d{cfg.api_duration_s}s ({bullmq.LABEL})")
        result = run_wrk(port, cfg, script, cfg.api_duration_s, log)
        time.sleep(0.5)  # requests cut off at the end may still be finishing
        stored = int(client.zcard(delayed)) - before
        client.close()
        if stored < result.ok_responses:
            notes.append(
                f"peer: LOST JOBS: {result.ok_responses:,} requests answered 2xx "
                f"but only {stored:,} jobs stored"
            )
        if not server.alive():
            notes.append("peer: the Fastify + BullMQ API exited during the run")
    return result


def _post_bulk(port: int, body: bytes) -> int:
    """POST one bulk body; the number of job ids answered (raises on a non-202)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
        conn.request("POST", BULK_PATH, body=body, headers=headers)
        response = conn.getresponse()
        reply = response.read()
    finally:
        conn.close()
    if response.status != 202:
        raise RuntimeError(f"{BULK_PATH} answered {response.status}: {reply[:300]!r}")
    return len(json.loads(reply)["jobIds"])


def bulk_ours(cfg: Config, logdir: Path, notes: list[str]) -> float | None:
    """Jobs/s of BULK_BATCHES bulk requests through ``qs gateway``, BULK_CLIENTS at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from local.embedded_redis import free_port
    from shared.jobs.store import JobStore

    bench = f"{NAME}/bulk-ours"
    message = json.loads(BODY)
    body = json.dumps({"messages": [message] * BULK_SIZE}).encode()
    with (
        embedded_redis(cfg.workdir, "api-bulk-ours") as redis_server,
        Children(logdir, notes) as children,
    ):
        env = service_env(redis_server.url, "http://127.0.0.1:9")
        use_redis(redis_server.url)
        port = free_port()
        gateway = children.start(
            "ours-bulk-gateway", qs("gateway", "--port", str(port), *cfg.gateway_args), env
        )
        wait_ready(port, gateway.alive, "qs gateway")
        _post_bulk(port, body)  # warm-up
        store = JobStore()
        before = store.count("sms", "delayed")
        say(bench, f"{BULK_BATCHES} x {BULK_SIZE:,} SMS, {BULK_CLIENTS} clients")
        started = time.perf_counter()
        with ThreadPoolExecutor(BULK_CLIENTS) as pool:
            answered = sum(pool.map(lambda _: _post_bulk(port, body), range(BULK_BATCHES)))
        elapsed = time.perf_counter() - started
        stored = store.count("sms", "delayed") - before
    if stored != answered or answered != BULK_BATCHES * BULK_SIZE:
        notes.append(f"bulk ours: {answered:,} job ids answered, {stored:,} stored")
        return None
    return answered / elapsed


def bulk_peer(cfg: Config, logdir: Path, notes: list[str]) -> float | None:
    """Jobs/s of the same batches through BullMQ ``addBulk`` in one Node process."""
    if bullmq.unavailable():
        return None  # the reason is in the notes already
    with embedded_redis(cfg.workdir, "api-bulk-peer") as redis_server:
        env = bullmq.env_for(redis_server.url, "http://127.0.0.1:9")
        log = logdir / "peer-bulk.log"
        bullmq.run_once(bullmq.node_argv("bulk", 1, 1, BULK_SIZE, 3_600_000), env, log, 60)
        say(f"{NAME}/bulk-peer", f"{BULK_BATCHES} x {BULK_SIZE:,} SMS, {BULK_CLIENTS} clients")
        argv = bullmq.node_argv("bulk", BULK_CLIENTS, BULK_BATCHES, BULK_SIZE, 3_600_000)
        done = bullmq.run_once(argv, env, log, 300)
    return float(done["count"]) / float(done["seconds"])


def _bulk_rows(section: Section, cfg: Config) -> None:
    """Bulk scheduling, ours (HTTP) against BullMQ's ``addBulk`` (in-process): ``api_runs``
    runs of each, alternating, each on a fresh Redis; the verdict is the median of the runs'
    ratios (one run is under a second: single runs swing by a quarter)."""
    if not cfg.baselines:
        return
    logdir = cfg.workdir / NAME
    ours: list[float | None] = []
    peers: list[float | None] = []
    for _ in range(cfg.api_runs):
        ours.append(bulk_ours(cfg, logdir, section.notes))
        peers.append(bulk_peer(cfg, logdir, section.notes))
    how = f"{BULK_BATCHES} x {BULK_SIZE:,} SMS, {BULK_CLIENTS} clients, {cfg.api_runs} runs"
    section.add(f"bulk: {how} (ours: POST {BULK_PATH}) jobs/s, median (min-max)", spread_text(ours))
    if all(p is None for p in peers):
        return
    section.add(
        f"peer: BullMQ addBulk, {how}, in-process (jobs/s), median (min-max)",
        "",
        spread_text(peers),
    )
    section.notes.append(
        "bulk: ours goes through HTTP, the peer's `addBulk` runs in-process (the seed has no "
        "bulk endpoint): no same-run peer figure for bulk over HTTP. Runs alternate, ours first."
    )
    bullmq.add_ratio_row(
        section,
        "bulk jobs/s vs BullMQ addBulk: ours / theirs per run, median (min-max)",
        ours,
        peers,
        TARGET_BULK_RATIO,
    )


def _redis_ceiling(cfg: Config) -> tuple[float | None, float | None]:
    """redis-benchmark LPUSH and EVAL requests/s at the same connection count."""
    if tool("redis-benchmark") is None:
        return None, None
    with embedded_redis(cfg.workdir, "api-redis") as server:
        say(f"{NAME}/redis", "redis-benchmark LPUSH and EVAL")
        n, c = cfg.redis_requests, cfg.api_connections
        return redis_benchmark(server.port, "lpush", n, c), redis_benchmark(
            server.port, "eval", n, c
        )


def _ms(value: float | None) -> str:
    return num(value, 1, "ms")


def run(cfg: Config) -> Section:
    extra = f" {' '.join(cfg.gateway_args)}" if cfg.gateway_args else ""
    section = Section(
        NAME,
        f"API: POST {PATH} via `qs gateway{extra}` ({_gateway_workers(cfg.gateway_args)} "
        f"processes), wrk -t1 -c{cfg.api_connections} -d{cfg.api_duration_s}s, "
        f"{cfg.api_runs} runs",
    )
    if tool("wrk") is None:
        section.notes.append("wrk is not installed (`make bench` installs it): skipped")
        return section
    script = cfg.workdir / "schedule-sms.lua"
    script.write_text(_WRK_SCRIPT)
    logdir = cfg.workdir / NAME
    logdir.mkdir(parents=True, exist_ok=True)
    ours: list[Wrk] = []
    peers: list[Wrk | None] = []  #: peers[i] ran right after ours[i] (None: it could not run)
    for _ in range(cfg.api_runs):  # interleaved: each pair sees the same machine
        ours.append(run_ours(cfg, logdir, script, section.notes))
        peers.append(run_peer(cfg, logdir, script, section.notes) if cfg.baselines else None)
    base = run_baseline(cfg, logdir, script, section.notes) if cfg.baselines else None
    lpush, evals = _redis_ceiling(cfg) if cfg.baselines else (None, None)

    def b(text: str) -> str:
        return text if base is not None else "skipped"

    rps = [w.rps for w in ours]
    errors = sum(w.non_2xx + w.socket_errors for w in ours)
    cell, word = spread_verdict(rps, TARGET_RPS)
    section.add(
        "requests/s, median (min-max)",
        spread_text(rps),
        b(f"{num(base.rps)} (naive Starlette + Dramatiq, 1 run)" if base else ""),
        f">= {TARGET_RPS:,.0f}",
        cell if errors == 0 else "FAIL",
    )
    section.add(
        "latency p50, median (min-max)",
        spread_text([w.p50_ms for w in ours], 1, "ms"),
        b(_ms(base.p50_ms) if base else ""),
    )
    p99 = [w.p99_ms for w in ours]
    cell_p99, word_p99 = spread_verdict(p99, TARGET_P99_MS, higher_is_better=False)
    section.add(
        "latency p99, median (min-max)",
        spread_text(p99, 1, "ms"),
        b(_ms(base.p99_ms) if base else ""),
        f"<= {TARGET_P99_MS:.0f} ms",
        cell_p99,
    )
    section.add(
        "non-2xx / socket errors, all runs",
        f"{sum(w.non_2xx for w in ours):,} / {sum(w.socket_errors for w in ours):,}",
        b(f"{base.non_2xx:,} / {base.socket_errors:,}" if base else ""),
        "0 / 0",
        verdict(errors == 0),
    )
    section.notes.append(
        f'ours: requests/s {word} ({cfg.api_runs} runs, verdict on the median; "at the edge" '
        f"when the target lies inside the runs' spread); p99 {word_p99}."
    )
    _peer_rows(section, ours, peers, cfg)
    _bulk_rows(section, cfg)
    if cfg.baselines:
        section.add(
            f"Redis ceiling, redis-benchmark -c{cfg.api_connections}",
            "",
            f"LPUSH {num(lpush)}/s, EVAL {num(evals)}/s",
        )
    return section


def _peer_rows(section: Section, ours: list[Wrk], peer_runs: list[Wrk | None], cfg: Config) -> None:
    """The peer's figures beside ours and the ratios of each run's pair (nothing when the
    peer did not run)."""
    if not cfg.baselines:
        section.notes.append(f"{bullmq.LABEL}: not run (--no-baselines)")
        return
    peers = [p for p in peer_runs if p is not None]
    if not peers:
        return  # the reason is in the notes already
    label = f"{bullmq.LABEL} (1 Node process, same runs)"
    section.add(
        f"peer: {label} requests/s, median (min-max)", "", spread_text([p.rps for p in peers])
    )
    section.add(
        f"peer: {label} latency p50 / p99, medians",
        "",
        " / ".join(_ms(median_of([getattr(p, f) for p in peers])) for f in ("p50_ms", "p99_ms")),
    )
    section.add(
        "peer: non-2xx / socket errors, all runs",
        "",
        f"{sum(p.non_2xx for p in peers):,} / {sum(p.socket_errors for p in peers):,}",
    )
    word, paired = bullmq.add_ratio_row(
        section,
        f"requests/s vs {bullmq.LABEL}: ours / theirs per run, median (min-max)",
        [o.rps for o in ours],
        [p.rps if p is not None else None for p in peer_runs],
        TARGET_PEER_RATIO,
    )
    section.notes.append(
        f"{bullmq.LABEL}: {paired} runs, ours and the peer's alternating, each on a fresh "
        f"Redis; the ratio is each run's pair, verdict on their median ({word}). The peer "
        "listens with one Node process, as the seed does; ours with the gateway's processes. "
        "Its endpoint checks the API key, the four required fields and `delay`, and nothing "
        "else (no idempotency, no organisation scoping). Its Redis is its own, started as ours "
        "is (same build, same settings)."
    )
