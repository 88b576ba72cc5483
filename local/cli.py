"""The ``qs`` command: run the service locally or self-hosted, invoke functions, list routes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from local import manifest as manifest_mod
from shared import logs
from shared.settings import settings

#: The project folder: where serverless.yml, functions/ and tests/ are.
ROOT = Path(__file__).resolve().parent.parent
#: uvicorn's ``http`` protocol option of ``qs gateway``: its stock httptools parser (a
#: hand-written protocol that wrote each response in one system call gained nothing measurable:
#: ``python -m bench --only protocol_ab``, which swaps this for its A/B).
GATEWAY_HTTP = "httptools"


def cmd_routes(args: argparse.Namespace) -> int:
    """Print every HTTP route and schedule of serverless.yml."""
    from local.cron import cron_jobs
    from local.schedules import describe

    manifest = manifest_mod.load()
    rows = [("METHOD", "PATH", "FUNCTION", "HANDLER")]
    rows += [(r.method.replace("*", "ANY"), r.path, f.name, f.handler) for r, f in manifest.routes]
    _table(rows)
    print()
    jobs = [("SCHEDULE", "AS CRON", "TIMEZONE", "FUNCTION", "HANDLER")]
    jobs += [
        (
            j.expression,
            describe(j.spec),
            j.schedule.timezone or "UTC",
            j.function.name,
            j.function.handler,
        )
        for j in cron_jobs(manifest)
    ]
    _table(jobs)
    return 0


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def cmd_invoke(args: argparse.Namespace) -> int:
    """Call one function's handler in this process, like ``serverless invoke local``."""
    from local.devenv import api_key
    from local.invoke import API_KEY_PLACEHOLDER, default_event, invoke

    manifest = manifest_mod.load()
    try:
        fn = manifest.find(args.function)
    except KeyError:
        names = ", ".join(manifest.functions)
        print(
            f"qs invoke: no function {args.function!r} in serverless.yml ({names})", file=sys.stderr
        )
        return 2
    event: Any
    text = Path(args.event).read_text() if args.event else args.data
    if text is not None:  # a sample event's "Bearer ${API_KEY}" gets the key in effect
        text = text.replace(API_KEY_PLACEHOLDER, api_key(settings))
        try:
            event = json.loads(text)
        except ValueError:
            if args.event:
                raise
            event = text  # serverless passes a non-JSON --data through as a string
    else:
        event = default_event(manifest, fn)
    print(json.dumps(invoke(fn, event), indent=2, default=str))
    return 0


#: Under ``qs dev``: seconds a stopping gateway waits, no longer accepting, for requests on the
#: connections it has just accepted, before its usual graceful shutdown.
HANDOVER_S = 0.2


def _ready_server() -> type[Any]:
    """``uvicorn.Server`` that tells ``qs dev`` once it accepts connections, and hands over to
    its successor without dropping a connection when it stops."""
    import asyncio

    import uvicorn

    from local.processes import notify_ready

    class ReadyServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and sockets:
                host, port = sockets[0].getsockname()[:2]
                logging.getLogger("uvicorn.error").info("Uvicorn running on %s:%s", host, port)
                notify_ready()

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Stop accepting (the next gateway, on the same socket, takes the new connections),
            # then give those accepted just now time to send their request: uvicorn closes a
            # connection without one at once, which its client would see as a failure.
            for server in self.servers:
                server.close()
            logging.getLogger("uvicorn.error").info("Handing over to the next gateway")
            await asyncio.sleep(HANDOVER_S)
            await super().shutdown(sockets)

    return ReadyServer


def cmd_gateway(args: argparse.Namespace) -> int:
    """Serve the HTTP API on HOST:PORT."""
    import uvicorn

    from local.gateway import build_app, process_count
    from local.processes import LISTEN_FD_ENV

    options: dict[str, Any] = dict(
        host=args.host, port=args.port, log_level=settings.log_level.lower(),
        access_log=args.access_log, timeout_graceful_shutdown=10,
        http=GATEWAY_HTTP,
    )  # fmt: skip
    workers = process_count(args.workers)
    listen_fd = os.environ.pop(LISTEN_FD_ENV, "")
    if listen_fd.isdigit():  # under qs dev: its socket, which outlives each reload
        app = build_app(threads=args.threads)
        server = _ready_server()(uvicorn.Config(app, **options))
        server.run(sockets=[socket.socket(fileno=int(listen_fd))])
    elif workers > 1:  # each process builds its own app from the import string
        os.environ["GATEWAY_THREADS"] = str(args.threads)  # read by each process's settings
        uvicorn.run("local.gateway:build_app", factory=True, workers=workers, **options)
    else:
        # uvicorn re-raises the stop signal once it has shut down, which with the default
        # handler kills the process (exit -15: a crash to a process manager reading exit
        # codes); this handler turns that, and a signal during start-up, into exit 0.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _exit_cleanly)
        uvicorn.run(build_app(threads=args.threads), **options)
    return 0


def _exit_cleanly(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run Dramatiq worker processes for every queue (and the cron functions)."""
    from local.workers import run_workers

    return run_workers(args.processes, args.threads, args.queues)


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Send cron functions at their ticks (any number of schedulers may run at once)."""
    import threading

    from local import worker_app
    from local.processes import notify_ready, on_stop_signals
    from local.scheduler import CronScheduler
    from shared.jobs.due import DueJobs

    scheduler = CronScheduler(
        worker_app.cron_actors, worker_app.cron_schedules, send_ticks=settings.scheduler_cron
    )
    due_jobs = DueJobs()

    def stop(_: str) -> None:
        scheduler.stop()
        due_jobs.stop()

    on_stop_signals(stop)
    if not scheduler.send_ticks:
        print("SCHEDULER_CRON=false: cron ticks are not sent (EventBridge runs them)", flush=True)
    for actor in scheduler.actors:
        print(f"scheduled {actor.actor_name}: {actor.options['periodic']}", flush=True)
    due_thread = threading.Thread(target=due_jobs.run, name="due-jobs", daemon=True)
    due_thread.start()
    notify_ready()
    scheduler.run()
    due_thread.join(timeout=5)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Move jobs kept in the pre-cluster key layout into their queues' keys (stop old workers
    first; safe to run again)."""
    from shared.jobs.migrate import migrate, old_layout_present
    from shared.redis_client import get_redis, server_time_ms

    client = get_redis()
    present = old_layout_present(client)
    if not present:
        print("nothing to migrate: no job records in the old key layout")
        return 0
    if args.dry_run:
        print(
            f"{present} per-state index(es) of the old key layout hold jobs; run without --dry-run"
        )
        return 0
    report = migrate(client, now_ms=server_time_ms(client))
    print(f"moved {report.total} job record(s) into their queues' keys")
    for queue, count in sorted(report.moved.items()):
        print(f"  {queue}: {count}")
    if report.already:
        print(f"  {report.already} already moved by an earlier run")
    if report.paused:
        print(f"  still paused: {', '.join(report.paused)}")
    for name in report.skipped:
        print(f"  left alone (no such queue): {name}", file=sys.stderr)
    print(f"removed {report.deleted_keys} key(s) of the old layout")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """Everything at once, with embedded Redis and hot reload."""
    from local.dev import DevServer

    server = DevServer(
        host=args.host,
        port=args.port,
        threads=args.threads,
        reload=not args.no_reload,
        data_dir=Path(args.data_dir).resolve(),
        out=sys.stdout,
    )
    return server.run()


def cmd_new(args: argparse.Namespace) -> int:
    """Write a new job type's skeleton: functions/jobs/NAME.py (a typed process(job)) and its
    test; then add the one queue-table line it prints."""
    from local.new_job import write_skeleton

    return write_skeleton(args.name, Path(args.root))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="qs", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=fn.__doc__, description=fn.__doc__)
        p.set_defaults(run=fn)
        return p

    for name, fn in (("dev", cmd_dev), ("gateway", cmd_gateway)):
        p = add(name, fn)
        p.add_argument("--host", default=settings.host, help="bind address (HOST)")
        p.add_argument("--port", type=int, default=settings.port, help="port (PORT)")
        if name == "dev":
            p.add_argument("--threads", type=int, default=settings.worker_threads)
            p.add_argument(
                "--no-reload", action="store_true", help="do not restart on code changes"
            )
            p.add_argument(
                "--data-dir", default=".local", help="embedded Redis data and dev secrets"
            )
        else:
            p.add_argument("--access-log", action="store_true", help="log every request")
            p.add_argument(
                "--workers", type=int, default=settings.gateway_workers,
                help="processes; 0: the machine's CPUs + 1 (GATEWAY_WORKERS)",
            )  # fmt: skip
            p.add_argument(
                "--threads", type=int, default=settings.gateway_threads,
                help="handler threads per process; 0: on the event loop (GATEWAY_THREADS)",
            )  # fmt: skip
    p = add("worker", cmd_worker)
    p.add_argument("--processes", "-p", type=int, default=settings.worker_processes)
    p.add_argument("--threads", "-t", type=int, default=settings.worker_threads)
    p.add_argument("--queues", "-Q", nargs="*", help="only these queues (default: all)")
    add("scheduler", cmd_scheduler)
    p = add("invoke", cmd_invoke)
    p.add_argument("function", help="function name from serverless.yml")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", "-d", help="the event, as JSON (or a plain string)")
    src.add_argument("--event", "-e", help="a file holding the event as JSON")
    add("routes", cmd_routes)
    p = add("migrate", cmd_migrate)
    p.add_argument("--dry-run", action="store_true", help="only say whether there is work")
    new = sub.add_parser("new", help="write a skeleton", description="Write a skeleton.")
    kinds = new.add_subparsers(dest="kind", required=True)
    p = kinds.add_parser("job", help=cmd_new.__doc__, description=cmd_new.__doc__)
    p.set_defaults(run=cmd_new)
    p.add_argument("name", help="the job type, e.g. send-invoice (also its queue's name)")
    p.add_argument("--root", default=str(ROOT), help="the project folder (default: this one)")
    return top


#: Subcommands that serve traffic or run jobs, and so check Redis first.
SERVING = {"gateway", "worker", "scheduler"}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.configure(settings.log_level)
    if args.command != "dev" and settings.app_env == "dev":
        from local import devenv

        if applied := devenv.apply(settings):
            print(
                f"qs {args.command}: {', '.join(applied)} of the running qs dev "
                f"(from {devenv.DEFAULT_PATH})",
                file=sys.stderr,
            )
    if args.command in SERVING | {"dev"}:
        from shared.jobs.queues import check_queue_limits

        try:
            check_queue_limits()
        except ValueError as exc:
            print(f"qs {args.command}: refusing to start: {exc}", file=sys.stderr)
            return 1
    if args.command in SERVING:
        from shared.redis_check import UnsafeRedis, check_redis_at_startup

        try:
            check_redis_at_startup(f"qs {args.command}")
        except UnsafeRedis as exc:
            print(f"qs {args.command}: refusing to start: {exc}", file=sys.stderr)
            return 1
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
