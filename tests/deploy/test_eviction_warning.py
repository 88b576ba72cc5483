"""``qs worker`` and ``qs scheduler`` warn loudly at start-up on a Redis that may evict keys,
and refuse to start on one in production: real processes against a Redis of the test's own."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.faults.harness import Reaper, RedisServer, Service

#: The first line of the framed warning and its headline.
BANNER = re.compile(r"^!{78}\n!! qs (worker|scheduler): THIS REDIS CAN LOSE JOBS$", re.M)
#: What each role prints once it works.
READY = {"worker": re.compile(r"worker \d+ ready"), "scheduler": re.compile(r"scheduled ")}
ARGS = {"worker": ("-p", "1", "-t", "1"), "scheduler": ()}
#: What production needs besides API_KEYS (the Service sets those).
PRODUCTION = {"APP_ENV": "production", "DASHBOARD_PASSWORD": "Dash-Board-Pass-7f3a9c2e"}


def start(reaper: Reaper, tmp_path: Path, policy: str) -> Service:
    server = RedisServer(reaper, tmp_path / "redis", "--maxmemory-policy", policy).start()
    assert server.client().config_get("maxmemory-policy")["maxmemory-policy"] == policy
    return Service(reaper, tmp_path, server, "http://127.0.0.1:9")


@pytest.mark.parametrize("role", ["worker", "scheduler"])
def test_an_evicting_redis_gets_a_framed_warning_and_the_process_still_starts_in_dev(
    reaper: Reaper, tmp_path: Path, role: str
):
    service = start(reaper, tmp_path, "allkeys-lru")
    process = service.start(role, *ARGS[role])
    wait_for(lambda: READY[role].search(process.output()), 30, f"{role} working")
    out = process.output()
    match = BANNER.search(out)
    assert match and match.group(1) == role, out
    block = out[match.start() :].split("!" * 78 + "\n", 2)[1]
    assert "maxmemory-policy is 'allkeys-lru'" in block and "noeviction" in block
    assert "starting anyway because APP_ENV is not production" in block
    assert out.index(match.group(0)) < READY[role].search(out).start()  # before any work
    process.send(signal.SIGTERM)
    assert process.wait(30) == 0


@pytest.mark.parametrize("role", ["worker", "scheduler"])
def test_an_evicting_redis_is_refused_in_production(reaper: Reaper, tmp_path: Path, role: str):
    service = start(reaper, tmp_path, "volatile-lru")
    process = service.start(role, *ARGS[role], **PRODUCTION)
    assert process.wait(30) == 1
    out = process.output()
    assert BANNER.search(out) and "refusing to start (APP_ENV=production)" in out
    assert f"qs {role}: refusing to start: maxmemory-policy is 'volatile-lru'" in out
    assert not READY[role].search(out)


@pytest.mark.parametrize("role", ["worker", "scheduler"])
def test_a_noeviction_redis_starts_without_the_warning(reaper: Reaper, tmp_path: Path, role: str):
    service = start(reaper, tmp_path, "noeviction")
    process = service.start(role, *ARGS[role], **PRODUCTION)
    wait_for(lambda: READY[role].search(process.output()), 30, f"{role} working")
    assert "THIS REDIS CAN LOSE JOBS" not in process.output()
    process.send(signal.SIGTERM)
    assert process.wait(30) == 0
