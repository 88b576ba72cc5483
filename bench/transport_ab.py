"""Benchmark ``transport_ab``: our keep-alive callback transport against httpx and urllib3.

Issue 15, "earn the hand-written parts": ``shared.delivery.transport.KeepAliveTransport`` (and
its ``post`` hot path) stays only where it is >= 20 % better than the best library in the same
run (``bench.ab``). Two A/Bs, each interleaved over the rounds in a rotated order, every
variant sending to the same ``bench.receiver`` on 127.0.0.1:

- **post**: a fresh child (``python -m bench.transports send``) per variant and round posts N
  signed seed SMS callbacks (``CallbackClient``'s request: compact JSON, Standard Webhooks
  headers with a secret) from T threads, the threads one ``qs worker`` process sends from
  (``WORKER_THREADS``, 8 by default). Callbacks/s is N over the wall time; CPU per callback is
  the child's user + system time (all threads) over N. The ``sign`` row builds and signs the
  same requests without sending them: the part every variant shares.
- **drain** (end to end): N SMS jobs queued (``sms`` paused, limits lifted), ``qs worker -p P
  -t T`` started with the variant's pool under every ``CallbackClient``
  (``python -m bench.transports worker``), ``sms`` resumed once every worker process beats;
  the rate runs from the 10 % to the 90 % callback, worker CPU per job (the worker processes'
  user + system time, sampled from /proc) over the same window. No ``qs scheduler``: the
  workers move ready jobs themselves, and the scheduler's CPU would be the same for all.
  Ours yields to the chunk's other callbacks while it waits for an answer
  (``shared.jobs.overlap``); a library blocks on its read, so its chunk goes one request at
  a time, as with any drop-in pool. The receiver answers at once here, where that matters
  little (the throughput benchmark's slow-backend rows show where it does).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench import ab
from bench.common import (
    SMS_UNLIMITED,
    Children,
    Config,
    Receiver,
    Section,
    embedded_redis,
    process_tree,
    say,
    service_env,
    use_redis,
    verdict,
    wait_until,
)
from bench.transports import BENCH_SECRET, LIBRARIES, MAX_IDLE, VARIANTS, WARMUP_PER_THREAD

NAME = "transport_ab"
#: Variants of the drain A/B: ours against the drop-in libraries.
DRAIN_VARIANTS = ("ours", *LIBRARIES)
#: Seconds a sender child may take.
SEND_TIMEOUT_S = 300.0
#: Seconds to wait for every worker process of a drain to beat.
READY_TIMEOUT_S = 90.0

LABELS = {
    "ours": "ours: KeepAliveTransport.post",
    "ours-httpx": "ours under httpx.Client",
    "httpx": "httpx.Client() (httpcore + h11)",
    "urllib3": "urllib3.PoolManager",
    "urllib3-pool": "urllib3.HTTPConnectionPool (one origin)",
    "sign": "encode + sign only (no request)",
}


@dataclass
class Figures:
    """One variant's figures, one entry per round."""

    rates: list[float] = field(default_factory=list)  #: callbacks/s
    cpu_us: list[float] = field(default_factory=list)  #: CPU µs per callback


def post_round(
    receiver: Receiver, variant: str, cfg: Config, notes: list[str]
) -> tuple[float, float]:
    """(callbacks/s, CPU µs per callback) of one sender child; NaNs when it failed."""
    n, threads = cfg.ab_callbacks, cfg.ab_threads
    receiver.reset(ids=False)
    argv = [sys.executable, "-m", "bench.transports", "send", f"{receiver.url}/send-sms"]
    argv += [variant, str(n), str(threads)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=SEND_TIMEOUT_S)
    if run.returncode != 0:
        notes.append(f"post/{variant}: the sender failed: {run.stderr.strip()[-300:]}")
        return float("nan"), float("nan")
    out = json.loads(run.stdout.strip().splitlines()[-1])
    sent = n // threads * threads
    expected = 0 if variant == "sign" else sent + WARMUP_PER_THREAD * threads
    if out["errors"] or receiver.count() != expected:
        notes.append(
            f"post/{variant}: {out['errors']} non-200 answers, {receiver.count():,} of "
            f"{expected:,} callbacks received"
        )
    return sent / out["seconds"], out["cpu_s"] / sent * 1e6


def drain_round(
    cfg: Config, variant: str, label: str, state: DrainState, notes: list[str]
) -> tuple[float, float]:
    """(callbacks/s, worker CPU µs per job) of one drain; NaNs when too few callbacks came."""
    from bench.hosts import Sampler, steady_window
    from bench.jobs import insert
    from bench.throughput import _measure as drain
    from shared.jobs import liveness
    from shared.jobs.store import JobStore
    from shared.redis_client import get_redis

    n, processes = cfg.ab_drain_n, cfg.throughput_processes
    state.client.flushall()
    use_redis(state.redis_url, SMS_UNLIMITED)
    store = JobStore(get_redis())
    store.pause("sms")
    insert(store, n, lambda i, at: at, bench=label)
    argv = [sys.executable, "-m", "bench.transports", "worker", variant]
    argv += ["-p", str(processes), "-t", str(cfg.throughput_threads)]
    with Children(state.logdir, notes) as children:
        worker = children.start(f"{variant}-worker", argv, state.env)
        if not wait_until(
            lambda: len(liveness.alive("worker")) >= processes, timeout_s=READY_TIMEOUT_S
        ):
            raise RuntimeError(f"{label}: the worker processes did not beat (see {state.logdir})")
        state.receiver.reset(ids=True)
        with Sampler({"workers": process_tree(worker.pid)}) as sampler:
            launched = sampler.series["workers"][0][0]
            store.resume("sms")
            outcome = drain(state.receiver, n, launched, label)
    if outcome.delivered != n or outcome.duplicates:
        notes.append(
            f"{label}: {outcome.delivered:,}/{n:,} delivered, {outcome.duplicates:,} duplicates"
        )
    window = steady_window(state.receiver.records()[0], n)
    if window is None:
        return float("nan"), float("nan")
    start, end, rate = window
    return rate, sampler.share("workers", start, end) / rate * 1e6


@dataclass
class DrainState:
    """What every drain of the section shares: one Redis, one receiver, the workers' env."""

    redis_url: str
    client: redis.Redis
    receiver: Receiver
    env: dict[str, str]
    logdir: Path


def run_post(cfg: Config, receiver: Receiver, notes: list[str]) -> dict[str, Figures]:
    figures = {v: Figures() for v in (*VARIANTS, "sign")}
    for r in range(cfg.ab_rounds):
        for variant in ab.rotated([*VARIANTS, "sign"], r):
            rate, cpu = post_round(receiver, variant, cfg, notes)
            figures[variant].rates.append(rate)
            figures[variant].cpu_us.append(cpu)
            say(
                f"{NAME}/post#{r + 1}",
                f"{variant}: {rate:,.0f} callbacks/s, {cpu:,.0f} µs CPU each",
            )
    return figures


def run_drain(cfg: Config, notes: list[str]) -> dict[str, Figures]:
    logdir = cfg.workdir / NAME
    figures = {v: Figures() for v in DRAIN_VARIANTS}
    with (
        embedded_redis(cfg.workdir, f"{NAME}-drain") as server,
        Children(logdir, notes) as children,
    ):
        receiver = Receiver(children)
        env = service_env(
            server.url, receiver.url, QUEUE_LIMITS=SMS_UNLIMITED, WEBHOOK_SECRET=BENCH_SECRET
        )
        client = redis.Redis.from_url(server.url)
        state = DrainState(server.url, client, receiver, env, logdir)
        try:
            for r in range(cfg.ab_rounds):
                for variant in ab.rotated(DRAIN_VARIANTS, r):
                    label = f"{NAME}/drain#{r + 1}/{variant}"
                    rate, cpu = drain_round(cfg, variant, label, state, notes)
                    figures[variant].rates.append(rate)
                    figures[variant].cpu_us.append(cpu)
                    say(label, f"{rate:,.0f} callbacks/s steady, {cpu:,.0f} µs worker CPU per job")
        finally:
            client.close()
    return figures


def add_rows(
    section: Section, kind: str, figures: dict[str, Figures], libraries: Sequence[str]
) -> list[float]:
    """Each variant's rows, then ours' gains over the best library; returns the rate gains."""
    unit = "callback" if kind == "post" else "job (worker CPU)"
    for variant, fig in figures.items():
        column = 1 if variant.startswith("ours") else 2
        cells = ["", ""]
        cells[column - 1] = f"{ab.spread(fig.rates)} /s, {ab.spread(fig.cpu_us)} µs"
        section.add(f"{kind}: {LABELS[variant]}: callbacks/s, CPU µs per {unit}", *cells)
    ours = figures["ours"]
    rate_gains = ab.gains(ours.rates, [figures[v].rates for v in libraries])
    cpu_gains = ab.gains(ours.cpu_us, [figures[v].cpu_us for v in libraries], lower_is_better=True)
    best = ", ".join(libraries)
    section.add(
        f"{kind}: gain in callbacks/s over the best of {best}, per round",
        ab.gain_text(rate_gains),
        "",
        f">= +{ab.KEEP_GAIN:.0%} to keep",
        verdict(ab.keeps(rate_gains)),
    )
    section.add(
        f"{kind}: CPU saved per {unit.split(' ')[0]} against the best of {best} "
        "(its CPU / ours - 1), per round",
        ab.gain_text(cpu_gains),
    )
    return rate_gains


def run(cfg: Config) -> Section:
    section = Section(
        NAME,
        f"Transport A/B: KeepAliveTransport vs httpx and urllib3, {cfg.ab_rounds} interleaved "
        f"rounds; post: {cfg.ab_callbacks:,} callbacks from {cfg.ab_threads} threads; drain: "
        f"{cfg.ab_drain_n:,} queued SMS, qs worker -p {cfg.throughput_processes} "
        f"-t {cfg.throughput_threads}",
    )
    notes = section.notes
    logdir = cfg.workdir / NAME
    logdir.mkdir(parents=True, exist_ok=True)
    with Children(logdir, notes) as children:
        post = run_post(cfg, Receiver(children), notes)
    post_libraries = [v for v in VARIANTS if not v.startswith("ours")]
    post_gains = add_rows(section, "post", post, post_libraries)
    drain = run_drain(cfg, notes)
    drain_gains = add_rows(section, "drain", drain, LIBRARIES)
    keep = ab.keeps(drain_gains)
    notes.append(
        f"rule (issue 15): keep the hand-written transport only where its same-run gain in "
        f"callbacks/s over the best library is >= {ab.KEEP_GAIN:.0%} (median of the rounds), "
        f"judged end to end (drain). This run: drain {ab.gain_text(drain_gains)}, post "
        f"{ab.gain_text(post_gains)} -> "
        f"{'keep' if keep else 'delete' if keep is not None else 'no verdict'}. Decided on "
        "2026-12-02: kept (figures in shared/delivery/transport.py's docstring)."
    )
    notes.append(
        f"The library pools keep {MAX_IDLE} idle connections per origin, as ours does, and do "
        "not retry; they read whole bodies (11 bytes here), ours at most 64 KiB. CPU is the "
        "sender's or the worker processes' own; the receiver is a process of its own on the "
        "same 2 cores. Figures: median (min-max) over the rounds; gains: per round, ours over "
        "that round's best library."
    )
    return section
