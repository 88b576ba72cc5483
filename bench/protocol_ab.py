"""Benchmark ``protocol_ab``: uvicorn's stock httptools protocol vs our coalescing one.

Issue 15, "earn the hand-written parts": ``CoalescingHttpToolsProtocol`` (now
``bench.coalescing_protocol``) was to stay only where it is >= 20 % better than stock uvicorn
in the same run (``bench.ab``). Two servers of each kind run side by side, the same but for
uvicorn's ``http`` option, and take the ``api`` benchmark's wrk load (``POST
/api/schedule-sms``, the seed SMS due in 1 h) in turns, round by round in a rotated order, each
after a warm-up; the idle one waits on its sockets meanwhile:

- **gateway**: ``qs gateway`` with the same ``--gateway-args`` on one embedded Redis
  (``python -m bench.protocol_ab gateway VARIANT ...`` sets ``local.cli.GATEWAY_HTTP``); every
  2xx answer must have stored its job;
- **bare**: a bare ASGI app (reads the body, answers the same 202) under ``uvicorn --workers``
  with the gateway's process count: where the HTTP server is all the work, the most the
  protocol can gain.

Decision (2026-12-02): deleted; ``qs gateway`` runs stock httptools. See
``bench.coalescing_protocol`` for the figures.

Tried 2026-12-03 with this harness, and not kept: a subclass of the httptools protocol that
answered the gateway's literal routes (``POST /api/schedule-sms``) without ASGI: no
request-response cycle, no ``receive``/``send`` messages, no middleware, the function run from
the protocol and its response written in one call. Under ``qs gateway`` (3 processes), 10 x 3 s
rounds on a machine where the gateway spends ~550 µs of CPU per request: +12 % requests/s
(median of the rounds; -3 % to +50 %), server CPU 535 against 590 µs per request (medians):
below the 20 % rule. The rest of that CPU, measured in-process (21 requests at a time through
the ASGI app, no HTTP server): the adapter and handler ~170 µs, the group commit's queueing
~45 µs, the asynchronous Redis client ~80 µs per request.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import ab
from bench.api import _WRK_SCRIPT, Wrk, _gateway_workers, run_wrk, wait_ready
from bench.coalescing_protocol import UVICORN_HTTP as COALESCING
from bench.common import (
    Children,
    Config,
    Section,
    embedded_redis,
    num,
    process_tree,
    say,
    service_env,
    tool,
    use_redis,
    verdict,
)
from bench.hosts import tree_ticks

NAME = "protocol_ab"
#: variant -> uvicorn's ``http`` option.
VARIANTS = {"coalescing": COALESCING, "stock": "httptools"}
LABELS = {"coalescing": "ours: CoalescingHttpToolsProtocol", "stock": "stock uvicorn httptools"}
#: What the bare app answers (what the gateway answers ``POST /api/schedule-sms``, in size).
BARE_BODY = b'{"jobId":"00000000-0000-0000-0000-000000000000","status":"scheduled"}'


@dataclass
class Figures:
    """One variant's wrk figures, one entry per round."""

    rps: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  #: server CPU per request, µs
    errors: int = 0  #: non-2xx answers and socket errors over all rounds
    lost: int = 0  #: 2xx answers whose job was not stored


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads a request's body and answers 202 with :data:`BARE_BODY`."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BARE_BODY))]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": BARE_BODY})


def gateway_argv(variant: str, port: int, extra: list[str]) -> list[str]:
    """``qs gateway`` on ``variant``'s protocol."""
    argv = [sys.executable, "-m", "bench.protocol_ab", "gateway", variant]
    return [*argv, "--port", str(port), *extra]


def bare_argv(variant: str, port: int, workers: int) -> list[str]:
    """The bare app under ``uvicorn --workers`` on ``variant``'s protocol."""
    argv = [sys.executable, "-m", "uvicorn", "bench.protocol_ab:bare_app", "--port", str(port)]
    argv += ["--workers", str(workers), "--http", VARIANTS[variant], "--lifespan", "off"]
    return [*argv, "--log-level", "warning", "--no-access-log"]


def rounds(
    cfg: Config,
    kind: str,
    argv: Callable[[str, int], list[str]],
    env: dict[str, str],
    notes: list[str],
    stored: Callable[[], int] | None = None,
) -> dict[str, Figures]:
    """Both variants' servers up, a warm-up each, then ``cfg.protocol_ab_rounds``
    interleaved wrk runs of ``cfg.protocol_ab_s`` seconds each."""
    from local.embedded_redis import free_port

    logdir = cfg.workdir / NAME
    script = cfg.workdir / "protocol-ab-schedule-sms.lua"
    script.write_text(_WRK_SCRIPT)
    figures = {v: Figures() for v in VARIANTS}
    ports = {v: free_port() for v in VARIANTS}
    with Children(logdir, notes) as children:
        servers = {}
        for variant, port in ports.items():
            servers[variant] = children.start(f"{kind}-{variant}", argv(variant, port), env)
            wait_ready(port, servers[variant].alive, f"{kind} ({variant})")
        for variant, port in ports.items():
            if cfg.api_warmup_s:
                run_wrk(port, cfg, script, cfg.api_warmup_s, logdir / f"wrk-{kind}-{variant}.log")
        # every worker process has answered by now
        trees = {variant: process_tree(child.pid) for variant, child in servers.items()}
        for r in range(cfg.protocol_ab_rounds):
            for variant in ab.rotated(list(VARIANTS), r):
                before, ticks = stored() if stored else 0, tree_ticks(trees[variant])
                log = logdir / f"wrk-{kind}-{variant}.log"
                out = run_wrk(ports[variant], cfg, script, cfg.protocol_ab_s, log)
                cpu_s = (tree_ticks(trees[variant]) - ticks) / os.sysconf("SC_CLK_TCK")
                if stored:
                    time.sleep(0.5)  # requests cut off at the end may still be finishing
                kept = stored() - before if stored else out.ok_responses
                record(figures[variant], out, kept, cpu_s)
                say(
                    f"{NAME}/{kind}#{r + 1}/{variant}",
                    f"{out.rps:,.0f} req/s, p99 {num(out.p99_ms, 1)} ms, "
                    f"{num(figures[variant].cpu_us[-1])} µs server CPU per request",
                )
    return figures


def run(cfg: Config) -> Section:
    from shared.jobs.store import JobStore

    extra = f" {' '.join(cfg.gateway_args)}" if cfg.gateway_args else ""
    workers = _gateway_workers(cfg.gateway_args)
    section = Section(
        NAME,
        f"Protocol A/B: stock httptools vs CoalescingHttpToolsProtocol under `qs gateway{extra}` "
        f"and a bare ASGI app ({workers} processes each), wrk -t1 -c{cfg.api_connections} "
        f"-d{cfg.protocol_ab_s}s, {cfg.protocol_ab_rounds} interleaved rounds",
    )
    notes = section.notes
    if tool("wrk") is None:
        notes.append("wrk is not installed (`make bench` installs it): skipped")
        return section
    (cfg.workdir / NAME).mkdir(parents=True, exist_ok=True)
    with embedded_redis(cfg.workdir, NAME) as server:
        env = service_env(server.url, "http://127.0.0.1:9")
        use_redis(server.url)
        store = JobStore()
        gateway = rounds(
            cfg, "gateway", lambda v, port: gateway_argv(v, port, cfg.gateway_args), env, notes,
            stored=lambda: store.count("sms", "delayed"),
        )  # fmt: skip
    bare = rounds(cfg, "bare", lambda v, port: bare_argv(v, port, workers), env, notes)
    gains = add_rows(section, "gateway", gateway)
    bare_gains = add_rows(section, "bare app", bare)
    keep = ab.keeps(gains)
    notes.append(
        f"rule (issue 15): keep the hand-written protocol only where its same-run gain in "
        f"requests/s over stock is >= {ab.KEEP_GAIN:.0%} (median of the rounds) under "
        f"`qs gateway`. This run: {ab.gain_text(gains)} (bare app: {ab.gain_text(bare_gains)})"
        f" -> {'keep' if keep else 'delete' if keep is not None else 'no verdict'}. Decided "
        "on 2026-12-02: deleted, `qs gateway` runs stock httptools (figures in "
        "bench/coalescing_protocol.py, kept for this A/B only)."
    )
    return section


def record(fig: Figures, out: Wrk, stored: int, cpu_s: float) -> None:
    fig.rps.append(out.rps)
    fig.cpu_us.append(cpu_s / out.requests * 1e6 if out.requests else math.nan)
    fig.p99_ms.append(out.p99_ms if out.p99_ms is not None else math.nan)
    fig.errors += out.non_2xx + out.socket_errors
    fig.lost += max(out.ok_responses - stored, 0)


def add_rows(section: Section, kind: str, figures: dict[str, Figures]) -> list[float]:
    """Each variant's rows and the coalescing protocol's gains; returns the req/s gains."""
    for variant, fig in figures.items():
        mine = variant == "coalescing"
        figure = f"{ab.spread(fig.rps)} req/s, p99 {ab.spread(fig.p99_ms, 1)} ms, "
        figure += f"{ab.spread(fig.cpu_us)} µs"
        errors = f"{fig.errors:,} / {fig.lost:,}"
        section.add(
            f"{kind}: {LABELS[variant]}: requests/s, p99, server CPU per request",
            *_cells(figure, mine),
        )
        section.add(
            f"{kind}: {LABELS[variant]}: errors / lost jobs",
            *_cells(errors, mine),
            "0 / 0",
            verdict(fig.errors == 0 and fig.lost == 0),
        )
    ours, stock = figures["coalescing"], figures["stock"]
    rps_gains = ab.gains(ours.rps, [stock.rps])
    p99_gains = ab.gains(ours.p99_ms, [stock.p99_ms], lower_is_better=True)
    section.add(
        f"{kind}: gain in requests/s over stock, per round",
        ab.gain_text(rps_gains),
        "",
        f">= +{ab.KEEP_GAIN:.0%} to keep",
        verdict(ab.keeps(rps_gains)),
    )
    cpu_gains = ab.gains(ours.cpu_us, [stock.cpu_us], lower_is_better=True)
    section.add(f"{kind}: gain in p99 over stock (its p99 / ours - 1)", ab.gain_text(p99_gains))
    section.add(
        f"{kind}: server CPU saved per request (its CPU / ours - 1)", ab.gain_text(cpu_gains)
    )
    return rps_gains


def _cells(text: str, mine: bool) -> tuple[str, str]:
    """(ours, baseline) columns with ``text`` in ours' when ``mine``."""
    return (text, "") if mine else ("", text)


def main(argv: list[str]) -> int:
    """``gateway VARIANT ARGS``: ``qs gateway ARGS`` on VARIANT's protocol (coalescing, stock)."""
    from local import cli

    if argv[:1] != ["gateway"] or len(argv) < 2 or argv[1] not in VARIANTS:
        print(main.__doc__, file=sys.stderr)
        return 2
    cli.GATEWAY_HTTP = VARIANTS[argv[1]]
    return cli.main(["gateway", *argv[2:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
