"""``python -m local.healthcheck``: a container's process judged by its heartbeat or its
gateway's answer, against the real Redis and a real gateway."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local import healthcheck
from local.gateway import build_app
from shared.jobs.liveness import Heartbeat, beat
from shared.settings import settings
from tests.conftest import wait_for
from tests.servers import free_port, serve

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_is_healthy_only_while_a_process_of_this_host_beats(r: Any):
    assert healthcheck.check("worker") == (False, "no worker of this host beats")
    beat("worker", "some-other-host:1")  # another container's worker does not count
    assert healthcheck.check("worker")[0] is False
    heartbeat = Heartbeat("worker").start()
    try:
        wait_for(lambda: healthcheck.check("worker")[0])
        assert healthcheck.check("scheduler")[0] is False  # roles are apart
    finally:
        heartbeat.stop()  # a clean stop forgets the member at once
    assert healthcheck.check("worker")[0] is False


def test_an_unreachable_redis_is_not_judged(monkeypatch: pytest.MonkeyPatch, redis_prefix: str):
    monkeypatch.setattr(settings, "redis_url", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr(settings, "redis_cluster", False)
    assert healthcheck.check("scheduler") == (True, "redis unreachable: not judged")


def test_a_gateway_is_healthy_while_its_health_route_answers(
    monkeypatch: pytest.MonkeyPatch, redis_prefix: str
):
    monkeypatch.setattr(settings, "port", free_port())
    assert healthcheck.check("gateway")[0] is False  # nothing listens
    with serve(build_app()) as url:
        monkeypatch.setattr(settings, "port", int(url.rsplit(":", 1)[1]))
        assert healthcheck.check("gateway") == (True, "GET /api/health answers")


def test_the_role_is_read_from_the_main_process_command_line(tmp_path: Path):
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"/opt/venv/bin/python\0/opt/venv/bin/qs\0scheduler\0")
    assert healthcheck.main_process_role(cmdline) == "scheduler"
    cmdline.write_bytes(b"/bin/sh\0-c\0sleep 1\0")
    assert healthcheck.main_process_role(cmdline) is None
    assert healthcheck.main_process_role(tmp_path / "missing") is None


def test_the_module_exits_1_when_unhealthy_and_2_without_a_role(r: Any, redis_prefix: str):
    env = {"REDIS_URL": settings.resolved_redis_url(), "REDIS_PREFIX": redis_prefix, "PATH": ""}
    run = [sys.executable, "-m", "local.healthcheck"]
    done = subprocess.run([*run, "worker"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (1, "worker: no worker of this host beats\n")
    beat("worker", f"{socket.gethostname()}:{12345}")
    done = subprocess.run([*run, "worker"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "worker: a worker of this host beats\n")
    done = subprocess.run([*run, "janitor"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "name the role" in done.stderr
