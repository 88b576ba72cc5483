"""Benchmark ``delayed``: N SMS due in 1-72 h, then 1,000 due in 2 s.

Issue: those 1,000 are delivered with lateness p99 <= 100 ms, and worker RSS does not grow
with the N. The 1,000 are scheduled one at a time, each due 2 s after its own creation, as a
client's loop does (and as the baseline sends them), ``--burst-runs`` times with the verdict on
the median of the runs' p99 (ours; the baseline's once); the same 1,000 all due in one millisecond
(the burst, ``--burst-runs`` times one after the other) are measured as well, against the
issue's burst target: p99 <= 250 ms and >= 4x better than Fastify + BullMQ measured in the same
run (``bench.peers.bullmq``: the N added with ``addBulk``, each burst in one ``addBulk`` with
one due time, a Worker of concurrency 50 POSTing each to the same kind of receiver, on its own
fresh Redis of the same build); both verdicts are on the median of the runs.
Ours: ``qs worker`` + ``qs scheduler``, jobs created with ``JobStore.create_many``.
Baseline: a plain Dramatiq actor with Dramatiq's own delay queue (``send_with_options(delay=)``).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    BOOT_TIMEOUT_S,
    Children,
    Config,
    Receiver,
    Section,
    embedded_redis,
    measure,
    median_of,
    num,
    our_service,
    percentile,
    qs,
    say,
    spread_text,
    spread_verdict,
    verdict,
)
from bench.jobs import insert, send_all, sms_data, sms_job
from bench.peers import bullmq

NAME = "delayed"
HOUR_MS = 3_600_000
#: When the late batch is due, from its creation, in milliseconds.
DUE_IN_MS = 2_000
#: Target: p99 lateness of the late batch, in milliseconds.
TARGET_P99_MS = 100.0
#: Target: worker RSS growth across the run, in MiB ("does not grow with the N").
TARGET_RSS_GROWTH_MB = 20.0
#: Burst targets: p99 lateness in ms, and the peer's p99 over ours (same run).
TARGET_BURST_P99_MS, TARGET_BURST_PEER_RATIO = 250.0, 4.0
#: Warm-up: jobs due now, and jobs due shortly (proves the scheduler promotes).
WARMUP_NOW, WARMUP_SOON = 20, 5


@dataclass
class Outcome:
    """One side's figures."""

    enqueued: int = 0
    enqueue_s: float = 0.0
    due: int = 0
    delivered: int = 0  #: distinct late-batch jobs that arrived within the timeout
    duplicates: int = 0
    lateness_ms: list[float] = field(default_factory=list)
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    #: the same 1,000 scheduled one at a time, each due 2 s after its own creation, one run
    #: per burst run (the verdict is on the median of the runs)
    trickles: list[Outcome] = field(default_factory=list)
    trickle_s: list[float] = field(default_factory=list)  #: how long scheduling took, s
    #: the bursts, one after the other: the 1,000 all due in the same millisecond, 2 s ahead
    bursts: list[Outcome] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.enqueued / self.enqueue_s if self.enqueue_s else 0.0


def _collect(
    receiver: Receiver,
    due_by_id: dict[str, float],
    timeout_s: float,
    bench: str,
    notes: list[str],
) -> Outcome:
    """Wait for the late batch; lateness per distinct job, in milliseconds."""
    receiver.wait_for(len(due_by_id), timeout_s=timeout_s, bench=bench)
    times, ids = receiver.records()
    result = Outcome(due=len(due_by_id))
    first: dict[str, float] = {}
    for job_id, arrived in zip(ids, times, strict=True):
        if job_id not in due_by_id:
            continue
        if job_id in first:
            result.duplicates += 1
        else:
            first[job_id] = arrived
    result.delivered = len(first)
    result.lateness_ms = [(arrived - due_by_id[j]) * 1000 for j, arrived in first.items()]
    stray = len(ids) - result.delivered - result.duplicates
    if stray:
        notes.append(f"{bench}: {stray} callbacks for jobs outside the late batch arrived")
    return result


def _warm_up(receiver: Receiver, send: Any, bench: str) -> None:
    """Send warm-up jobs (``send(now=..., soon=...)``) and wait for every callback."""
    receiver.reset(ids=False)
    send(WARMUP_NOW, WARMUP_SOON)
    want = WARMUP_NOW + WARMUP_SOON
    got = receiver.wait_for(want, timeout_s=BOOT_TIMEOUT_S, bench=f"{bench} warm-up")
    if got < want:
        raise RuntimeError(f"{bench}: warm-up delivered {got}/{want} callbacks (see logs)")
    time.sleep(1.0)  # let the worker settle before measuring its memory


def _bursts(
    cfg: Config, receiver: Receiver, send: Any, bench: str, notes: list[str]
) -> list[Outcome]:
    """``cfg.burst_runs`` bursts one after the other: ``send(run, due_ms)`` schedules the
    1,000 all due at ``due_ms`` (epoch ms, 2 s ahead) and returns their ids; each burst is
    collected before the next is sent."""
    runs = []
    for run in range(cfg.burst_runs):
        receiver.reset(ids=True)
        due_ms = int(time.time() * 1000) + DUE_IN_MS
        ids = send(run, due_ms)
        due_by_id = dict.fromkeys(ids, due_ms / 1000)
        what = f"{bench} burst {run + 1}/{cfg.burst_runs}"
        runs.append(_collect(receiver, due_by_id, cfg.lateness_timeout_s, what, notes))
    return runs


def _trickle(
    store: Any, receiver: Receiver, cfg: Config, bench: str, notes: list[str], run: int
) -> tuple[Outcome, float]:
    """The late batch again, created one job at a time (as a client's loop of
    ``POST /api/schedule-sms`` with ``delay: 2000`` does), each due 2 s after its creation."""
    from shared.jobs.store import now_ms

    receiver.reset(ids=True)
    due_by_id: dict[str, float] = {}
    started = time.perf_counter()
    first = 30_000_000 + run * cfg.delayed_due
    for i in range(cfg.delayed_due):
        at = now_ms()
        job_id = store.create(sms_job(first + i, at + DUE_IN_MS, at), at_ms=at).job_id
        due_by_id[job_id] = (at + DUE_IN_MS) / 1000
    spread_s = time.perf_counter() - started
    return _collect(receiver, due_by_id, cfg.lateness_timeout_s, bench, notes), spread_s


def run_ours(cfg: Config, logdir: Path, notes: list[str]) -> Outcome:
    bench = f"{NAME}/ours"
    rng = random.Random(1)
    with our_service(cfg, NAME, logdir, notes) as (children, receiver, env, store):
        worker = children.start(
            "ours-worker",
            qs("worker", "-p", str(cfg.delayed_processes), "-t", str(cfg.delayed_threads)),
            env,
        )
        scheduler = children.start("ours-scheduler", qs("scheduler"), env)

        def warm(now_count: int, soon_count: int) -> None:
            insert(store, now_count, lambda i, at: at, bench=bench, first=10_000_000)
            insert(store, soon_count, lambda i, at: at + 500, bench=bench, first=20_000_000)

        _warm_up(receiver, warm, bench)
        before = worker.rss_mb()
        say(bench, f"worker RSS {before:.1f} MiB; inserting {cfg.delayed_n:,} delayed jobs")
        receiver.reset(ids=True)
        _, insert_s = insert(
            store,
            cfg.delayed_n,
            lambda i, at: at + rng.randint(HOUR_MS, 72 * HOUR_MS),
            bench=bench,
        )
        say(bench, f"inserted {cfg.delayed_n:,} in {insert_s:.1f} s; {cfg.burst_runs} bursts")

        def burst(run: int, due_ms: int) -> list[str]:
            first = 50_000_000 + run * cfg.delayed_due
            return insert(store, cfg.delayed_due, lambda i, at: due_ms, bench=bench, first=first)[0]

        result = Outcome()
        result.bursts = _bursts(cfg, receiver, burst, bench, notes)
        for run in range(cfg.burst_runs):
            what = f"{bench} one at a time {run + 1}/{cfg.burst_runs}"
            trickle, took_s = _trickle(store, receiver, cfg, what, notes, run)
            result.trickles.append(trickle)
            result.trickle_s.append(took_s)
        result.enqueued, result.enqueue_s = cfg.delayed_n, insert_s
        result.rss_before_mb, result.rss_after_mb = before, worker.rss_mb()
        failed = store.count("sms", "failed")
        if failed:
            notes.append(f"ours: {failed} sms jobs ended failed")
        for child in (worker, scheduler):
            if not child.alive():
                notes.append(f"ours: {child.name} exited during the run")
    return result


def run_baseline(cfg: Config, logdir: Path, notes: list[str]) -> Outcome:
    from bench import dramatiq_baseline

    bench = f"{NAME}/baseline"
    rng = random.Random(1)
    with (
        embedded_redis(cfg.workdir, "delayed-baseline") as redis_server,
        Children(logdir, notes) as children,
    ):
        receiver = Receiver(children)
        env, actor = dramatiq_baseline.prepare(redis_server.url, receiver.url)
        argv = [sys.executable, "-m", "dramatiq", "bench.dramatiq_baseline"]
        argv += ["-p", str(cfg.delayed_processes), "-t", str(cfg.delayed_threads)]
        worker = children.start("baseline-worker", argv, env)

        def warm(now_count: int, soon_count: int) -> None:
            for i in range(now_count + soon_count):
                delay = None if i < now_count else 500
                actor.send_with_options(args=(sms_data(i, delay or 0),), delay=delay)

        _warm_up(receiver, warm, bench)
        before = worker.rss_mb()
        n = cfg.baseline_delayed_n
        say(bench, f"worker RSS {before:.1f} MiB; enqueueing up to {n:,} delayed messages")
        receiver.reset(ids=True)

        def send_far(i: int) -> None:
            delay = rng.randint(HOUR_MS, 72 * HOUR_MS)
            actor.send_with_options(args=(sms_data(i, delay),), delay=delay)

        sent, enqueue_s = send_all(
            send_far, range(n), total=n, bench=bench, cap_s=cfg.baseline_enqueue_cap_s
        )
        say(bench, f"enqueued {sent:,} in {enqueue_s:.1f} s; {cfg.delayed_due:,} due in 2 s")
        due_by_id: dict[str, float] = {}
        for i in range(cfg.delayed_due):
            job_id = f"due-{i}"
            due_by_id[job_id] = time.time() + DUE_IN_MS / 1000
            data = {**sms_data(i, DUE_IN_MS), "jobId": job_id}
            actor.send_with_options(args=(data,), delay=DUE_IN_MS)
        result = _collect(receiver, due_by_id, cfg.lateness_timeout_s, bench, notes)
        result.enqueued, result.enqueue_s = sent, enqueue_s
        result.rss_before_mb, result.rss_after_mb = before, worker.rss_mb()
        if sent < n:
            notes.append(
                f"baseline: enqueue capped at {cfg.baseline_enqueue_cap_s:.0f} s, "
                f"so it ran with {sent:,} delayed messages, not {n:,}"
            )
        if not worker.alive():
            notes.append("baseline: the Dramatiq worker exited during the run")
    return result


def run_peer(cfg: Config, logdir: Path, notes: list[str]) -> Outcome | None:
    """BullMQ's burst: N delayed 1-72 h, then 1,000 due in the same millisecond 2 s ahead;
    None (reason in ``notes``) when the peer cannot run here."""
    if reason := bullmq.unavailable():
        notes.append(reason)
        return None
    bench = f"{NAME}/peer"
    with (
        embedded_redis(cfg.workdir, "delayed-peer") as redis_server,
        Children(logdir, notes) as children,
    ):
        receiver = Receiver(children)
        env = bullmq.env_for(redis_server.url, receiver.url)
        log = logdir / "peer-fill.log"
        worker = children.start("peer-worker", bullmq.node_argv("worker"), env)

        def warm(now_count: int, soon_count: int) -> None:
            bullmq.run_once(bullmq.node_argv("fill", now_count, 0), env, log, 60)
            bullmq.run_once(bullmq.node_argv("fill", soon_count, 500), env, log, 60)

        _warm_up(receiver, warm, bench)
        before = worker.rss_mb()
        say(bench, f"worker RSS {before:.1f} MiB; adding {cfg.delayed_n:,} delayed jobs")
        receiver.reset(ids=True)
        far = bullmq.node_argv("fill", cfg.delayed_n, HOUR_MS, 71 * HOUR_MS)
        filled = bullmq.run_once(far, env, log, max(300.0, cfg.delayed_n / 500))
        say(bench, f"added {cfg.delayed_n:,} in {filled['seconds']:.1f} s; {cfg.burst_runs} bursts")

        def burst(run: int, due_ms: int) -> list[str]:
            prefix = f"burst{run}-"
            argv = bullmq.node_argv("burst", cfg.delayed_due, due_ms, prefix)
            bullmq.run_once(argv, env, log, 60)
            return [f"{prefix}{i}" for i in range(cfg.delayed_due)]

        result = Outcome()
        result.bursts = _bursts(cfg, receiver, burst, bench, notes)
        result.enqueued, result.enqueue_s = cfg.delayed_n, float(filled["seconds"])
        result.rss_before_mb, result.rss_after_mb = before, worker.rss_mb()
        if not worker.alive():
            notes.append("peer: the BullMQ worker exited during the run")
    return result


def _lateness(runs: list[Outcome], pct: float) -> list[float]:
    """The ``pct`` percentile of each run's lateness, ms (runs without figures left out)."""
    return [percentile(r.lateness_ms, pct) for r in runs if r.lateness_ms]


def _per_run(runs: list[Outcome]) -> str:
    """Each run's p99 lateness, in order, naming a run that lost jobs."""
    return ", ".join(
        _ms(r.lateness_ms, 99) + ("" if _complete([r]) else " (lost jobs)") for r in runs
    )


def _complete(runs: list[Outcome]) -> bool:
    return bool(runs) and all(r.delivered == r.due and not r.duplicates for r in runs)


def _trickle_rows(
    section: Section, ours: Outcome, base: Outcome | None, cfg: Config, b: Any
) -> None:
    """The issue's figure: the 1,000 scheduled one at a time, delivered, then their lateness
    as median (min-max) of the runs; the verdict on the median p99."""
    runs = ours.trickles
    if not runs:
        return
    complete, due = _complete(runs), sum(r.due for r in runs)
    took = f"{min(ours.trickle_s):.2f}-{max(ours.trickle_s):.2f} s"
    section.add(
        f"{cfg.delayed_due:,} scheduled one at a time over {took}, each due 2 s later, "
        f"{len(runs)} runs: delivered",
        f"{sum(r.delivered for r in runs):,}/{due:,}",
        b(f"{base.delivered:,}/{base.due:,}" if base else ""),
        f"{due:,}/{due:,}",
        verdict(complete),
    )
    _lateness_rows(
        section, runs, [("p50", 50.0), ("p99", 99.0)], TARGET_P99_MS,
        baseline=lambda pct: b(_ms(base.lateness_ms, pct) if base else ""),
    )  # fmt: skip
    section.notes.append(f"ours: one-at-a-time p99 per run, in order: {_per_run(runs)}")


def _lateness_rows(
    section: Section,
    runs: list[Outcome],
    percentiles: list[tuple[str, float]],
    target_p99_ms: float,
    *,
    baseline: Callable[[float], str] = lambda pct: "",
) -> None:
    """A row per (label, percentile) of ``runs``' lateness, median (min-max) of the runs; the
    p99 row is judged against ``target_p99_ms`` on the median (every run delivered whole)."""
    for label, pct in percentiles:
        cells = ["", ""]
        if pct == 99.0:
            cell, _ = spread_verdict(_lateness(runs, 99), target_p99_ms, higher_is_better=False)
            cells = [f"<= {target_p99_ms:.0f} ms", cell if _complete(runs) else verdict(False)]
        section.add(
            f"  ... their lateness {label}",
            spread_text(_lateness(runs, pct), 1, "ms"),
            baseline(pct),
            *cells,
        )


def _burst_rows(section: Section, ours: Outcome, cfg: Config) -> None:
    """Our bursts: delivered, then lateness percentiles as median (min-max) of the runs."""
    runs, complete = ours.bursts, _complete(ours.bursts)
    due = sum(r.due for r in runs)
    section.add(
        f"burst: {cfg.delayed_due:,} all due the same millisecond, {len(runs)} runs: delivered",
        f"{sum(r.delivered for r in runs):,}/{due:,}",
        "",
        f"{due:,}/{due:,}",
        verdict(complete),
    )
    percentiles = [
        ("p50", 50.0), ("p99", 99.0), ("min (the first job)", 0.0),
        ("max (the time to drain them)", 100.0),
    ]  # fmt: skip
    _lateness_rows(section, runs, percentiles, TARGET_BURST_P99_MS)
    section.notes.append(f"ours: burst p99 per run, in order: {_per_run(runs)}")


def _peer_rows(section: Section, ours: Outcome, peer: Outcome | None, cfg: Config) -> None:
    """The peer's bursts beside ours and the ratio of each pair of runs (the i-th burst of
    each side; nothing when the peer did not run)."""
    if not cfg.baselines:
        section.notes.append(f"{bullmq.LABEL}: not run (--no-baselines)")
        return
    if peer is None:
        return  # the reason is in the notes already
    due = sum(r.due for r in peer.bursts)
    section.add(
        "peer: BullMQ bursts (same run): delivered",
        "",
        f"{sum(r.delivered for r in peer.bursts):,}/{due:,}",
    )
    section.add(
        "peer: BullMQ burst lateness p50 / p99 (median of runs)",
        "",
        f"{num(median_of(_lateness(peer.bursts, 50)), 1, 'ms')} / "
        f"{num(median_of(_lateness(peer.bursts, 99)), 1, 'ms')}",
    )

    def p99s(runs: list[Outcome]) -> list[float | None]:
        return [percentile(r.lateness_ms, 99) if _complete([r]) else None for r in runs]

    pairs = min(len(ours.bursts), len(peer.bursts))
    bullmq.add_ratio_row(
        section,
        "burst lateness p99 vs BullMQ (theirs / ours, pairs of runs)",
        p99s(ours.bursts)[:pairs],
        p99s(peer.bursts)[:pairs],
        TARGET_BURST_PEER_RATIO,
        lower_is_better=True,
        unit="ms",
    )
    section.add(f"peer: enqueue rate, addBulk of {peer.enqueued:,} (jobs/s)", "", num(peer.rate))
    section.notes.append(f"peer: burst p99 per run, in order: {_per_run(peer.bursts)}")
    section.notes.append(
        f"BullMQ: each side runs {cfg.burst_runs} bursts one after the other on its own Redis "
        "holding the N delayed jobs; the ratio row pairs the i-th burst of each side and its "
        "verdict is on the median of the pairs. The one-at-a-time case (each due 2 s after its "
        "creation) has no same-run peer."
    )


def _ms(values: list[float], pct: float) -> str:
    return num(percentile(values, pct), 1, "ms") if values else "n/a"


def run(cfg: Config) -> Section:
    section = Section(
        NAME,
        f"Delayed: {cfg.delayed_n:,} due in 1-72 h, then {cfg.delayed_due:,} due in 2 s "
        f"(worker -p {cfg.delayed_processes} -t {cfg.delayed_threads}, "
        f"timeout {cfg.lateness_timeout_s:.0f} s)",
    )
    ours, base, b = measure(cfg, NAME, section.notes, run_ours, run_baseline)
    peer = run_peer(cfg, cfg.workdir / NAME, section.notes) if cfg.baselines else None

    section.add(
        "delayed jobs enqueued",
        num(ours.enqueued),
        b(num(base.enqueued) if base else ""),
    )
    section.add(
        "enqueue rate (jobs/s)",
        num(ours.rate),
        b(num(base.rate) if base else ""),
    )
    _trickle_rows(section, ours, base, cfg, b)
    _burst_rows(section, ours, cfg)
    duplicates = sum(r.duplicates for r in [*ours.bursts, *ours.trickles])
    if duplicates or (base and base.duplicates):
        section.add(
            "duplicate deliveries",
            num(duplicates),
            b(num(base.duplicates) if base else ""),
            "0",
            verdict(duplicates == 0),
        )
    _peer_rows(section, ours, peer, cfg)
    growth = ours.rss_after_mb - ours.rss_before_mb
    section.add(
        "worker RSS before -> after (MiB)",
        f"{ours.rss_before_mb:.0f} -> {ours.rss_after_mb:.0f}",
        b(f"{base.rss_before_mb:.0f} -> {base.rss_after_mb:.0f}" if base else ""),
    )
    section.add(
        "worker RSS growth (MiB)",
        f"{growth:+.1f}",
        b(f"{base.rss_after_mb - base.rss_before_mb:+.1f}" if base else ""),
        f"<= {TARGET_RSS_GROWTH_MB:.0f}",
        verdict(growth <= TARGET_RSS_GROWTH_MB),
    )
    return section
