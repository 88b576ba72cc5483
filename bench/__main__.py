"""``python -m bench``: our figures beside baselines measured in the same run (``make bench``).

Every benchmark starts its own embedded Redis and runs the service as real subprocesses
(``qs worker|scheduler|gateway``); child logs are kept in a temporary directory printed at the
start. Sizes come from flags, else ``BENCH_<FLAG>`` environment variables (``BENCH_DELAYED_N``),
else the defaults (``--quick`` picks small ones). Writes the table to ``bench/RESULTS.md``.
Exits 1 when a benchmark could not run; a missed target is a FAIL in the table, not an error.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from bench import (
    api,
    cluster,
    dashboard,
    delayed,
    hosts,
    imports,
    limits,
    protocol_ab,
    redis_bench,
    reload,
    throughput,
    transport_ab,
)
from bench.common import Config, Section
from bench.report import cpu_busy, print_table, write_markdown

BENCHMARKS: dict[str, Callable[[Config], Section]] = {
    delayed.NAME: delayed.run,
    throughput.NAME: throughput.run,
    api.NAME: api.run,
    redis_bench.NAME: redis_bench.run,
    limits.NAME: limits.run,
    cluster.NAME: cluster.run,
    hosts.NAME: hosts.run,
    dashboard.NAME: dashboard.run,
    reload.NAME: reload.run,
    imports.NAME: imports.run,
    transport_ab.NAME: transport_ab.run,
    protocol_ab.NAME: protocol_ab.run,
}

#: Warn when the CPUs are busier than this share before the run starts.
BUSY_WARNING = 0.2
#: Sizes: flag -> (full default, --quick default). Each is also read from ``BENCH_<FLAG>``.
SIZES: dict[str, tuple[float, float]] = {
    "delayed_n": (1_000_000, 100_000),
    "baseline_delayed_n": (0, 0),  # 0: the same as delayed_n
    "burst_runs": (5, 3),
    "baseline_enqueue_cap_s": (120, 60),
    "lateness_timeout_s": (30, 30),
    "delayed_processes": (2, 2),
    "delayed_threads": (4, 4),
    "throughput_m": (20_000, 5_000),
    "throughput_processes": (2, 2),
    "throughput_threads": (4, 4),
    "api_duration_s": (10, 5),
    "api_connections": (64, 64),
    "api_warmup_s": (2, 1),
    "api_runs": (5, 2),
    "api_workers": (0, 0),  # 0: the gateway's --workers (1 without it)
    "redis_requests": (200_000, 50_000),
    "limits_jobs": (5_000, 1_000),
    "limits_campaign": (50_000, 10_000),
    "limits_priority_n": (10_000, 10_000),
    "cluster_n": (20_000, 6_000),
    "cluster_repeats": (5, 5),
    "cluster_replicas": (0, 0),
    "cluster_processes": (2, 2),
    "cluster_threads": (4, 4),
    "hosts_n": (20_000, 6_000),
    "hosts_repeats": (5, 3),
    "hosts_processes": (1, 1),
    "hosts_threads": (4, 4),
    "dashboard_n": (1_000_000, 100_000),
    "reload_n": (5, 3),
    "imports_runs": (7, 3),
    "ab_rounds": (5, 3),
    "ab_callbacks": (5_000, 2_000),
    "ab_threads": (8, 8),
    "ab_drain_n": (10_000, 4_000),
    "protocol_ab_rounds": (10, 6),
    "protocol_ab_s": (3, 2),
}
HELP = {
    "delayed_n": "far-future jobs in the delayed benchmark",
    "baseline_delayed_n": "far-future messages for the Dramatiq baseline (default: DELAYED_N)",
    "baseline_enqueue_cap_s": "stop enqueueing the baseline's messages after this many seconds",
    "lateness_timeout_s": "how long to wait for the 1,000 jobs due in 2 s",
    "burst_runs": (
        "bursts of 1,000 due in one ms, and runs of 1,000 created one at a time (delayed "
        "benchmark), each side; verdict: median"
    ),
    "throughput_m": "jobs queued up front in the throughput benchmark",
    "api_runs": "runs of ours and the peer, alternating: API, bulk, callbacks/s (verdict: median)",
    "api_workers": "uvicorn workers of the naive API baseline (default: the gateway's)",
    "cluster_n": "jobs queued up front per repetition of the cluster benchmark (3 queues)",
    "cluster_repeats": "repetitions of each side of the cluster benchmark",
    "cluster_replicas": "replicas per master of the cluster benchmark's 3-master cluster",
    "hosts_n": "jobs queued up front per step of the hosts benchmark (1, 2, 4 hosts)",
    "hosts_repeats": "repetitions of each host count of the hosts benchmark",
    "hosts_processes": "qs worker -p on each host (network namespace) of the hosts benchmark",
    "hosts_threads": "qs worker -t on each host of the hosts benchmark",
    "dashboard_n": "jobs in Redis for the dashboard benchmark (mixed states, three queues)",
    "reload_n": "edits of serverless.yml, each timed to a 200 on the route it adds",
    "imports_runs": "fresh interpreters per module of the imports benchmark",
    "ab_rounds": "interleaved rounds of the transport_ab A/Bs",
    "ab_callbacks": "callbacks per variant and round of transport_ab's post A/B",
    "ab_threads": "threads sending at once in transport_ab's post A/B",
    "ab_drain_n": "queued SMS per variant and round of transport_ab's drain A/B",
    "protocol_ab_rounds": "interleaved rounds of protocol_ab (wrk runs of PROTOCOL_AB_S each)",
    "protocol_ab_s": "seconds of wrk per variant and round of protocol_ab",
}


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Config]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (about 2 minutes; the full run takes about 6)",
    )
    parser.add_argument("--no-baselines", action="store_true", help="measure ours only")
    parser.add_argument(
        "--no-throughput-scheduler",
        action="store_true",
        help="throughput: run the workers without `qs scheduler`",
    )
    parser.add_argument(
        "--gateway-args",
        default=os.environ.get("BENCH_GATEWAY_ARGS", ""),
        help='extra arguments of `qs gateway`, e.g. "--workers 2"',
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).with_name("RESULTS.md"),
        help="where to write the Markdown report (default: bench/RESULTS.md)",
    )
    defaults = Config(workdir=Path("."))
    for name in SIZES:
        kind = type(getattr(defaults, name))
        parser.add_argument(
            "--" + name.replace("_", "-"), type=kind, default=None, help=HELP.get(name)
        )
    args = parser.parse_args(argv)
    cfg = Config(workdir=Path(tempfile.mkdtemp(prefix="qsbench-")), quick=args.quick)
    for name, (full, quick) in SIZES.items():
        value = getattr(args, name)
        if value is None:
            env = os.environ.get(f"BENCH_{name.upper()}")
            value = float(env) if env else (quick if args.quick else full)
        setattr(cfg, name, type(getattr(cfg, name))(value))
    cfg.baseline_delayed_n = cfg.baseline_delayed_n or cfg.delayed_n
    cfg.baselines = not args.no_baselines
    cfg.throughput_scheduler = not args.no_throughput_scheduler
    cfg.gateway_args = shlex.split(args.gateway_args)
    return args, cfg


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally` that stops children


def main(argv: list[str] | None = None) -> int:
    args, cfg = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    names = args.only or list(BENCHMARKS)
    print(f"bench: {', '.join(names)} ({'quick' if cfg.quick else 'full'}); logs in {cfg.workdir}")
    busy = cpu_busy()
    if busy > BUSY_WARNING:
        print(f"bench: warning: the CPUs are {busy:.0%} busy before starting; figures will be low")
    sections: list[Section] = []
    crashed = False
    started = time.monotonic()
    for name in names:
        t0 = time.monotonic()
        try:
            section = BENCHMARKS[name](cfg)
        except Exception as exc:
            traceback.print_exc()
            crashed = True
            section = Section(name, f"{name}: could not run")
            section.notes.append(f"ERROR: {type(exc).__name__}: {exc} (logs in {cfg.workdir})")
        section.notes.append(f"took {time.monotonic() - t0:.0f} s")
        sections.append(section)
    print_table(sections)
    mode = "quick sizes" if cfg.quick else "full sizes"
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    write_markdown(args.output, sections, mode=mode, argv=command.strip(), busy_at_start=busy)
    print(f"wrote {args.output}; {time.monotonic() - started:.0f} s in all; logs in {cfg.workdir}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
