"""Benchmark ``throughput``: callbacks per second to a local receiver, M jobs queued up front.

Issue: >= 2,500 callbacks/s on this 2-core machine, and >= 2.0x BullMQ's worker measured in the
same run (``bench.peers.bullmq``: one Node process, a Worker of concurrency 50, M jobs queued up
front with ``addBulk`` on its own fresh Redis of the same build, posting to the same receiver).
Ours: M immediate SMS jobs created with no worker running, then ``qs worker -p P -t T`` (and
``qs scheduler``, as deployed). Baseline: a plain Dramatiq actor posting with a pooled sync
httpx client, M messages queued, ``dramatiq -p P -t T``. The rate runs from the first callback
to the M-th; the wall time from starting the workers to the M-th callback.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    Children,
    Config,
    Receiver,
    Section,
    embedded_redis,
    measure,
    num,
    our_service,
    qs,
    say,
    spread_text,
    verdict,
    wait_until,
)
from bench.jobs import insert, send_all, sms_data
from bench.peers import bullmq
from shared.jobs.runner import CHUNK

NAME = "throughput"
#: Target, in callbacks per second.
TARGET_RATE = 2_500.0
#: Target of ours against the peer (BullMQ's worker, same run): ours / theirs callbacks/s.
TARGET_PEER_RATIO = 2.0
#: The slow-backend runs: jobs per run, the receiver's answer delay (ms), runs per side.
SLOW_M = 5_000
SLOW_MS = 20.0
SLOW_RUNS = 3
#: Give up when no callback arrived for this many seconds.
STALL_S = 30.0


@dataclass
class Outcome:
    expected: int = 0
    delivered: int = 0  #: distinct jobs that called back
    duplicates: int = 0
    rate: float = 0.0  #: callbacks/s from the first to the M-th
    wall_s: float = 0.0  #: from starting the workers to the M-th callback
    boot_s: float = 0.0  #: from starting the workers to the first callback


def _measure(receiver: Receiver, expected: int, launched: float, bench: str) -> Outcome:
    receiver.wait_for(expected, timeout_s=max(120.0, expected / 200), bench=bench, stall_s=STALL_S)
    times, ids = receiver.records()
    result = Outcome(expected=expected)
    distinct = set(ids)
    result.delivered = len(distinct)
    result.duplicates = len(ids) - len(distinct)
    times.sort()
    if times:
        result.boot_s = times[0] - launched
    if len(times) >= expected and expected > 1:
        last = times[expected - 1]
        result.rate = (expected - 1) / (last - times[0]) if last > times[0] else 0.0
        result.wall_s = last - launched
    return result


def run_ours(cfg: Config, logdir: Path, notes: list[str], slow: bool = False) -> Outcome:
    """Ours draining M queued SMS (``slow``: SLOW_M to a receiver answering in SLOW_MS)."""
    bench = f"{NAME}/ours" + (" (slow backend)" if slow else "")
    m = SLOW_M if slow else cfg.throughput_m
    delay = SLOW_MS if slow else 0.0
    service = our_service(cfg, NAME, logdir, notes, receiver_delay_ms=delay)
    with service as (children, receiver, env, store):
        _, insert_s = insert(store, m, lambda i, at: at, bench=bench)
        say(bench, f"queued {m:,} jobs in {insert_s:.1f} s; starting workers")
        receiver.reset(ids=True)
        launched = time.time()
        worker = children.start(
            "ours-worker",
            qs("worker", "-p", str(cfg.throughput_processes), "-t", str(cfg.throughput_threads)),
            env,
        )
        if cfg.throughput_scheduler:
            children.start("ours-scheduler", qs("scheduler"), env)
        result = _measure(receiver, m, launched, bench)
        if not wait_until(lambda: store.count("sms", "completed") >= m, timeout_s=10):
            counts = {state: store.count("sms", state) for state in ("waiting", "active")}
            counts |= {state: store.count("sms", state) for state in ("completed", "failed")}
            notes.append(f"ours: job store after the run: {counts} (expected {m:,} completed)")
        if not worker.alive():
            notes.append("ours: the worker exited during the run")
    return result


def run_baseline(cfg: Config, logdir: Path, notes: list[str]) -> Outcome:
    from bench import dramatiq_baseline

    bench = f"{NAME}/baseline"
    m = cfg.throughput_m
    with (
        embedded_redis(cfg.workdir, "throughput-baseline") as redis_server,
        Children(logdir, notes) as children,
    ):
        receiver = Receiver(children)
        env, actor = dramatiq_baseline.prepare(redis_server.url, receiver.url)

        def send(i: int) -> None:
            actor.send({**sms_data(i, 0), "jobId": f"b{i}"})

        sent, enqueue_s = send_all(send, range(m), total=m, bench=bench)
        say(bench, f"queued {sent:,} messages in {enqueue_s:.1f} s; starting workers")
        receiver.reset(ids=True)
        launched = time.time()
        argv = [sys.executable, "-m", "dramatiq", "bench.dramatiq_baseline"]
        argv += ["-p", str(cfg.throughput_processes), "-t", str(cfg.throughput_threads)]
        worker = children.start("baseline-worker", argv, env)
        result = _measure(receiver, m, launched, bench)
        if not worker.alive():
            notes.append("baseline: the Dramatiq worker exited during the run")
    return result


def run_peer(cfg: Config, logdir: Path, notes: list[str], slow: bool = False) -> Outcome | None:
    """BullMQ's worker draining M jobs queued up front (``slow``: as ``run_ours``); None
    (reason in ``notes``) when the peer cannot run here."""
    import redis

    if reason := bullmq.unavailable():
        notes.append(reason)
        return None
    bench = f"{NAME}/peer" + (" (slow backend)" if slow else "")
    m = SLOW_M if slow else cfg.throughput_m
    with (
        embedded_redis(cfg.workdir, "throughput-peer") as redis_server,
        Children(logdir, notes) as children,
    ):
        receiver = Receiver(children, delay_ms=SLOW_MS if slow else 0.0)
        env = bullmq.env_for(redis_server.url, receiver.url)
        filled = bullmq.run_once(
            bullmq.node_argv("fill", m, 0), env, logdir / "peer-fill.log", max(120.0, m / 100)
        )
        say(bench, f"queued {filled['count']:,} jobs in {filled['seconds']:.1f} s; starting worker")
        receiver.reset(ids=True)
        launched = time.time()
        worker = children.start("peer-worker", bullmq.node_argv("worker"), env)
        result = _measure(receiver, m, launched, bench)
        client = redis.Redis.from_url(redis_server.url)
        completed = f"{bullmq.PREFIX}:sms:completed"
        if not wait_until(lambda: int(client.zcard(completed)) >= m, timeout_s=10):
            notes.append(f"peer: {int(client.zcard(completed)):,} jobs completed of {m:,}")
        client.close()
        if not worker.alive():
            notes.append("peer: the BullMQ worker exited during the run")
    return result


def run(cfg: Config) -> Section:
    p, t, m = cfg.throughput_processes, cfg.throughput_threads, cfg.throughput_m
    with_scheduler = " + qs scheduler" if cfg.throughput_scheduler else ""
    section = Section(NAME, f"Throughput: {m:,} queued SMS, workers -p {p} -t {t}{with_scheduler}")
    ours, base, b = measure(cfg, NAME, section.notes, run_ours, run_baseline)
    pairs: list[tuple[Outcome, Outcome | None]] = []
    slow_pairs: list[tuple[Outcome, Outcome | None]] = []
    if cfg.baselines:  # ours and the peer alternating, the first of ours being the run above
        logdir = cfg.workdir / NAME
        for n in range(cfg.api_runs):
            mine = ours if n == 0 else run_ours(cfg, logdir, section.notes)
            pairs.append((mine, run_peer(cfg, logdir, section.notes)))
        for _ in range(SLOW_RUNS):  # the same, to a backend that takes SLOW_MS to answer
            mine = run_ours(cfg, logdir, section.notes, slow=True)
            slow_pairs.append((mine, run_peer(cfg, logdir, section.notes, slow=True)))

    section.add(
        "callbacks/s (first -> M-th)",
        num(ours.rate),
        b(num(base.rate) if base else ""),
        f">= {TARGET_RATE:,.0f}",
        verdict(ours.rate >= TARGET_RATE),
    )
    section.add(
        "delivered (distinct jobs)",
        f"{ours.delivered:,}/{ours.expected:,}",
        b(f"{base.delivered:,}/{base.expected:,}" if base else ""),
        f"{m:,}/{m:,}",
        verdict(ours.delivered == ours.expected),
    )
    section.add(
        "duplicate callbacks",
        num(ours.duplicates),
        b(num(base.duplicates) if base else ""),
        "0",
        verdict(ours.duplicates == 0),
    )
    section.add(
        "wall time incl. boot (s)",
        num(ours.wall_s or None, 1),
        b(num(base.wall_s or None, 1) if base else ""),
    )
    section.add(
        "boot to first callback (s)",
        num(ours.boot_s, 2),
        b(num(base.boot_s, 2) if base else ""),
    )
    _peer_rows(section, pairs, cfg)
    _slow_rows(section, slow_pairs)
    return section


def _delivered(runs: list[Outcome]) -> str:
    """``delivered/expected / duplicates`` summed over ``runs``."""
    delivered, expected = sum(r.delivered for r in runs), sum(r.expected for r in runs)
    return f"{delivered:,}/{expected:,} / {sum(r.duplicates for r in runs):,}"


def _slow_rows(section: Section, pairs: list[tuple[Outcome, Outcome | None]]) -> None:
    """Callbacks/s to a backend answering in ``SLOW_MS``, ours and the peer's (same runs)."""
    peers = [peer for _, peer in pairs if peer is not None]
    if not peers:
        return
    section.add(
        f"to a backend answering in {SLOW_MS:.0f} ms ({SLOW_M:,} jobs, {len(pairs)} runs "
        "each): callbacks/s, median (min-max)",
        spread_text([mine.rate for mine, _ in pairs]),
        spread_text([p.rate for p in peers]),
    )
    section.add(
        "  ... delivered (distinct) / duplicates, all runs",
        _delivered([mine for mine, _ in pairs]),
        _delivered(peers),
    )
    ratios = [
        bullmq.ratio(mine.rate, peer.rate)
        for mine, peer in pairs
        if peer is not None and peer.delivered == peer.expected
    ]
    section.add(
        "  ... ours / BullMQ per run, median (min-max)",
        spread_text([r for r in ratios if r is not None], 2, "", prefix="x"),
    )
    section.notes.append(
        f"slow backend: the receiver answers each callback {SLOW_MS:.0f} ms after it arrived "
        "(a backend across a network, or busy); each side has as many callbacks in flight as "
        f"it keeps open: ours {CHUNK} per worker thread (a message's chunk, side by side), "
        f"the peer its concurrency ({bullmq.CONCURRENCY}). No target: it shows what a backend "
        "further than loopback does to each side."
    )


def _peer_rows(section: Section, pairs: list[tuple[Outcome, Outcome | None]], cfg: Config) -> None:
    """The peer's figures and the ratio of each run's pair, verdict on their median (nothing
    when it did not run)."""
    if not cfg.baselines:
        section.notes.append(f"{bullmq.LABEL}: not run (--no-baselines)")
        return
    peers = [peer for _, peer in pairs if peer is not None]
    if not peers:
        return  # the reason is in the notes already
    label = f"BullMQ worker (1 Node process, concurrency {bullmq.CONCURRENCY}, same runs)"
    section.add(
        f"ours: callbacks/s over the {len(pairs)} paired runs, median (min-max)",
        spread_text([mine.rate for mine, _ in pairs]),
    )
    section.add(
        f"peer: {label} callbacks/s, median (min-max)", "", spread_text([p.rate for p in peers])
    )
    section.add("peer: delivered / duplicates, all runs", "", _delivered(peers))
    word, _ = bullmq.add_ratio_row(
        section,
        "callbacks/s vs BullMQ: ours / theirs per run, median (min-max)",
        [mine.rate for mine, _ in pairs],
        # a peer run that lost jobs has no figure to compare
        [p.rate if p is not None and p.delivered == p.expected else None for _, p in pairs],
        TARGET_PEER_RATIO,
    )
    section.notes.append(
        f"BullMQ: {len(pairs)} runs, ours and the peer's alternating, each on a fresh Redis; the "
        f"ratio is each run's pair, verdict on their median ({word})."
    )
