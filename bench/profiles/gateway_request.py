"""A/B micro-benchmark of the gateway's request path: ``POST /api/schedule-sms`` driven through
the gateway's ASGI app in-process (no HTTP server, no socket to a client), against a real
embedded Redis, for two source trees in alternating child processes.

    python bench/profiles/gateway_request.py --a /path/to/base --b . [--rounds 9] [--requests 3000]
        [--env GATEWAY_GROUP_COMMIT=0]

Each round runs one child per tree (the order alternates round by round), each child imports the
app from its tree (``PYTHONPATH``), warms it with 300 requests, then times ``--requests`` more:
wall µs per request (Redis' script time included) and the child's CPU µs per request
(``time.process_time``: the gateway's own Python, redis-py included, Redis' time excluded),
then the µs of each stage of the path outside Redis alone (``timeit``, best of 3 x 5,000 calls).
Prints min / median / max per tree. ``--profile cumulative|tottime`` instead prints one child's
cProfile of the timed requests (tree ``--b``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

#: The seed SMS body, due in an hour (no worker needed), as ``bench.api`` sends it.
BODY = json.dumps(
    {
        "phoneNumber": "+14155550123",
        "message": "Your appointment is tomorrow at 10:00. Reply STOP to opt out.",
        "contactId": "contact-1",
        "workspaceId": "workspace-bench",
        "delay": 3_600_000,
    }
).encode()
#: The headers wrk sends with ``bench.api``'s script (names lower-case, as uvicorn gives them).
HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"content-type", b"application/json"),
    (b"authorization", b"Bearer benchkey"),
    (b"content-length", str(len(BODY)).encode()),
]
#: Requests each child sends before timing.
WARM_UP = 300


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/api/schedule-sms",
        "raw_path": b"/api/schedule-sms",
        "query_string": b"",
        "headers": HEADERS,
    }


async def _drive(requests: int, profile: str | None) -> dict[str, float]:
    """Wall and CPU µs per request of ``requests`` timed requests (empty when profiling)."""
    import local.gateway

    if not Path(local.gateway.__file__).resolve().is_relative_to(Path.cwd().resolve()):
        raise RuntimeError(f"imported {local.gateway.__file__}, not the tree in {Path.cwd()}")
    app = local.gateway.build_app()
    statuses: list[int] = []
    message = {"type": "http.request", "body": BODY, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: MutableMapping[str, Any]) -> None:
        if event["type"] == "http.response.start":
            statuses.append(event["status"])

    async def run(n: int) -> None:
        for _ in range(n):
            await app(_scope(), receive, send)

    await run(WARM_UP)
    if statuses != [202] * WARM_UP:
        raise RuntimeError(f"the app answered {sorted(set(statuses))}, not 202")
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        await run(requests)
        profiler.disable()
        pstats.Stats(profiler).sort_stats(profile).print_stats(40)
        return {}
    wall, cpu = time.perf_counter(), time.process_time()
    await run(requests)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if set(statuses) != {202}:
        raise RuntimeError(f"the app answered {sorted(set(statuses))}, not 202")
    return {"request, wall": wall / requests * 1e6, "request, CPU": cpu / requests * 1e6}


def _stages() -> dict[str, float]:
    """µs of each stage of the request path outside Redis, timed alone (best of 3)."""
    import timeit

    from local.context import LambdaContext
    from local.events import api_gateway_response, http_event
    from shared.http.adapter import Response, parse_body, parse_event
    from shared.http.auth import authenticate
    from shared.schemas import SMS_SCHEDULED, ScheduledResponse, SmsCreate
    from shared.settings import settings

    account, region, scope = settings.aws_account_id, settings.aws_region, _scope()
    route = "POST /api/schedule-sms"
    event = http_event(scope, route_key=route, path_params={}, body=BODY, account_id=account)
    context = LambdaContext("scheduleSms", timeout_s=6, region=region, account_id=account)
    request = parse_event(event, context)
    reply = Response(ScheduledResponse(job_id="SMS01J", message=SMS_SCHEDULED), status=202)
    result = reply.to_lambda()
    stages = {
        "http_event": lambda: http_event(
            scope, route_key=route, path_params={}, body=BODY, account_id=account
        ),
        "LambdaContext": lambda: LambdaContext(
            "scheduleSms", timeout_s=6, region=region, account_id=account
        ),
        "parse_event": lambda: parse_event(event, context),
        "authenticate": lambda: authenticate(request.headers),
        "parse_body (SmsCreate)": lambda: parse_body(SmsCreate, request),
        "Response.to_lambda": reply.to_lambda,
        "api_gateway_response": lambda: api_gateway_response(result),
    }
    calls = 5000
    return {
        name: min(timeit.repeat(stage, number=calls, repeat=3)) / calls * 1e6
        for name, stage in stages.items()
    }


def _child(
    tree: Path, redis_url: str, requests: int, profile: str | None, extra: list[str]
) -> dict[str, float]:
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("QS_", "GATEWAY_", "API_KEYS", "SERVICE_TOKEN", "REDIS_")):
            del env[name]
    env.update(
        PYTHONPATH=str(tree), REDIS_URL=redis_url, REDIS_PREFIX="qsprofile",
        API_KEYS="benchkey", LOG_LEVEL="WARNING",
    )  # fmt: skip
    env.update(item.partition("=")[::2] for item in extra)
    argv = [sys.executable, __file__, "--child", str(requests)]
    if profile:
        argv += ["--profile", profile]
    out = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"child in {tree} failed:\n{out.stderr}")
    if profile:
        print(out.stdout)
        return {}
    return dict(json.loads(out.stdout.splitlines()[-1]))


def _spread(values: list[float]) -> str:
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", type=Path, help="tree A (e.g. a worktree of main)")
    parser.add_argument("--b", type=Path, default=Path.cwd(), help="tree B (default: here)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", choices=["cumulative", "tottime"])
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="a setting for both trees' children, e.g. GATEWAY_GROUP_COMMIT=0",
    )  # fmt: skip
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = asyncio.run(_drive(args.child, args.profile))
        if not args.profile:
            print(json.dumps({**figures, **_stages()}))
        return

    import redis

    from local.embedded_redis import EmbeddedRedis

    if args.a is None and not args.profile:
        parser.error("--a is needed to compare two trees")
    trees = {"B": args.b.resolve()}
    if not args.profile:
        trees["A"] = args.a.resolve()
    results: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), persist=False).start()
        try:
            client = redis.Redis.from_url(server.url)
            if args.profile:
                _child(trees["B"], server.url, args.requests, args.profile, args.env)
                return
            for round_ in range(args.rounds):
                for name in ["A", "B"] if round_ % 2 == 0 else ["B", "A"]:
                    client.flushdb()  # this run's own server: every child starts empty
                    run = _child(trees[name], server.url, args.requests, None, args.env)
                    results[name].append(run)
                walls = "  ".join(f"{n} {results[n][-1]['request, wall']:.1f}" for n in "AB")
                print(f"round {round_ + 1}: wall µs per request {walls}", flush=True)
        finally:
            server.stop()
    print(f"\nA = {trees['A']}\nB = {trees['B']}")
    print(f"µs, min / median / max of {args.rounds} rounds (A/B interleaved)\n")
    print("| measure | A | B |\n|---|---|---|")
    for key in results["A"][0]:
        a, b = ([run[key] for run in results[n]] for n in "AB")
        print(f"| {key} | {_spread(a)} | {_spread(b)} |")


if __name__ == "__main__":
    main()
