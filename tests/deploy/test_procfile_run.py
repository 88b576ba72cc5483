"""The Procfile's three commands, run for real as a process manager (honcho, Heroku) runs
them: through ``sh -c``, with the environment a user sets, against a Redis of the test's own.
Together they take an SMS and deliver it; on SIGTERM each exits 0 in time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from local.embedded_redis import free_port
from tests.conftest import wait_for
from tests.deploy.test_selfhost_files import procfile
from tests.faults.harness import SERVICE_VARS, Reaper, RedisServer
from tests.servers import Receiver, serve

VENV_BIN = Path(sys.executable).parent
#: Seconds each process type may take to exit after SIGTERM (the systemd units' stop timeouts).
STOP_WITHIN_S = {"web": 20.0, "worker": 10.0 + 15.0, "scheduler": 15.0}


def user_env(redis_url: str, receiver_url: str, port: int, gateway_workers: str) -> dict[str, str]:
    """What a user sets on the platform (and the platform's PORT); ``qs`` on PATH."""
    inherited = {k: v for k, v in os.environ.items() if k.upper() not in SERVICE_VARS}
    return inherited | {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"qsproc-{uuid.uuid4().hex[:8]}",
        "APP_ENV": "production",
        "API_KEYS": "acme:procfile-key",
        "DASHBOARD_PASSWORD": "Dash-Board-Pass-7f3a9c2e",
        "SMS_API_URL": receiver_url,
        "EMAIL_API_URL": receiver_url,
        "CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8",  # the receiver is on loopback
        "WORKER_PROCESSES": "1",
        "WORKER_THREADS": "2",
        "GATEWAY_WORKERS": gateway_workers,  # 0 (the default): one per CPU, plus one
        "WORKER_SHUTDOWN_TIMEOUT_S": "10",
        "PYTHONUNBUFFERED": "1",
    }


def alive(role: str, env: dict[str, str], cwd: Path) -> int:
    """Exit code of the containers' health check for ``role`` (0: a process of this host
    beats in Redis)."""
    return subprocess.run(
        [sys.executable, "-m", "local.healthcheck", role],
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=30,
    ).returncode


@pytest.mark.parametrize("gateway_workers", ["0", "1"])
def test_the_procfile_processes_serve_deliver_and_stop_cleanly_on_sigterm(
    reaper: Reaper, tmp_path: Path, gateway_workers: str
):
    server = RedisServer(reaper, tmp_path / "redis").start()
    receiver = Receiver()
    with serve(receiver.app()) as receiver_url:
        port = free_port()
        env = user_env(server.url, receiver_url, port, gateway_workers)
        assert alive("worker", env, tmp_path) == 1  # nothing runs yet: unhealthy
        processes = {
            kind: reaper.spawn(kind, ["sh", "-c", command], tmp_path / f"{kind}.log", env=env)
            for kind, command in procfile().items()
        }
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"authorization": "Bearer procfile-key"},
            timeout=10,
        )

        def health() -> bool:
            try:
                return api.get("/api/health").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(health, 60, "the web process answering on $PORT")
        wait_for(lambda: alive("worker", env, tmp_path) == 0, 60, "the worker beating")
        wait_for(lambda: alive("scheduler", env, tmp_path) == 0, 60, "the scheduler beating")
        created = api.post(
            "/api/schedule-sms",
            json={
                "phoneNumber": "+14155550123",
                "message": "hi",
                "contactId": "c1",
                "workspaceId": "w1",
                "delay": 1000,
            },
        )
        assert created.status_code == 202, created.text
        # due in 1 s: the scheduler promotes it, the worker calls the receiver
        wait_for(lambda: receiver.to("/send-sms"), 30, "the SMS delivered")
        assert all(p.poll() is None for p in processes.values())

        stopped_at = time.monotonic()
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)  # what Heroku and honcho send
        for kind, process in processes.items():
            left = STOP_WITHIN_S[kind] - (time.monotonic() - stopped_at)
            assert process.wait(timeout=max(left, 0.1)) == 0, f"{kind} exit code"
        assert alive("worker", env, tmp_path) == 1  # forgotten at a clean stop
