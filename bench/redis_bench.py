"""Benchmark ``redis``: ``redis-benchmark`` on a fresh embedded Redis, as context for the rest.

SET and LPUSH are the raw ceiling; EVAL of a one-line script is the ceiling for anything that
runs a Lua script per request (our job store does). ``-c`` clients, one connection each.
"""

from __future__ import annotations

import re
import subprocess

from bench.common import Config, Section, embedded_redis, num, say, tool

NAME = "redis"
#: A trivial script: the cost of one EVAL round trip with a write.
EVAL_ARGS = ["eval", "return redis.call('LPUSH', KEYS[1], ARGV[1])", "1", "bench:eval", "x"]
_RPS = re.compile(r"^(.*?):\s*([\d.]+|inf) requests per second")


def redis_benchmark(port: int, test: str, requests: int, clients: int = 64) -> float | None:
    """Requests/s of one test (``set``, ``lpush``, or ``eval`` for :data:`EVAL_ARGS`)."""
    exe = tool("redis-benchmark")
    if exe is None:
        return None
    argv = [exe, "-h", "127.0.0.1", "-p", str(port), "-q", "-n", str(requests), "-c", str(clients)]
    argv += EVAL_ARGS if test == "eval" else ["-t", test]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True).stdout
    for line in re.split(r"[\r\n]+", out):
        match = _RPS.match(line.strip())
        if match and match.group(2) != "inf":
            return float(match.group(2))
    return None


def run(cfg: Config) -> Section:
    n = cfg.redis_requests
    section = Section(NAME, f"Redis ceiling: redis-benchmark -n {n:,} -c 64 on embedded Redis")
    if tool("redis-benchmark") is None:
        section.notes.append("redis-benchmark is not installed (apt-get install redis-tools)")
        return section
    with embedded_redis(cfg.workdir, "redis-benchmark") as server:
        for test, label in (("set", "SET"), ("lpush", "LPUSH"), ("eval", "EVAL (1-line LPUSH)")):
            say(NAME, f"{label} x {n:,}")
            section.add(f"{label} requests/s", num(redis_benchmark(server.port, test, n)))
    return section
