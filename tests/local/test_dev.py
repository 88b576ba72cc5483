"""``qs dev`` end to end: embedded Redis, healthy within 15 s, hot reload, Ctrl-C leaves nothing."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from local.dev import ROOT, DevServer
from local.embedded_redis import free_port
from shared.settings import Settings
from tests.conftest import wait_for
from tests.servers import Receiver


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren …), read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


class DevProcess:
    """``qs dev`` as a child process whose output lines are collected."""

    def __init__(self, port: int, data_dir: Path, sms_api_url: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
        env.update(API_KEYS="", SERVICE_TOKEN="", DASHBOARD_PASSWORD="", PYTHONUNBUFFERED="1")
        env.update(SMS_API_URL=sms_api_url)
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.cli", "dev", "--port", str(port),
             "--data-dir", str(data_dir)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        threading.Thread(target=self._collect, daemon=True).start()
        self.url = f"http://127.0.0.1:{port}"

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace"))

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, what: str, condition: Callable[[], bool], timeout_s: float) -> float:
        """Seconds until ``condition()`` held; fails with the output when it never does."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout_s or self.process.poll() is not None:
                pytest.fail(f"{what} not seen within {timeout_s} s; output:\n{self.output()}")
            time.sleep(0.1)
        return time.monotonic() - started

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def dev(tmp_path: Path, receiver: Receiver) -> Iterator[DevProcess]:
    server = DevProcess(free_port(), tmp_path / ".local", receiver.url)
    yield server
    if server.process.poll() is None:
        for pid in descendants(server.process.pid):
            os.kill(pid, signal.SIGKILL)
        server.process.kill()
        server.process.wait()


def test_qs_dev_serves_health_reloads_on_change_and_stops_cleanly_on_ctrl_c(
    dev: DevProcess, receiver: Receiver
):
    elapsed = dev.wait_for("healthy /api/health", dev.healthy, timeout_s=15)
    assert elapsed < 15

    banner = dev.output()
    key = re.search(r"API key\s+(\S+)", banner)
    assert key and re.search(r"dashboard\s+admin / \S+", banner)
    auth = {"authorization": f"Bearer {key.group(1)}"}
    invoke = f"{dev.url}/2015-03-31/functions/health-check/invocations"
    assert httpx.post(invoke, json={"time": "t0"}, headers=auth).json()["scheduledAt"] == "t0"
    assert httpx.post(invoke, json={}).status_code == 401

    sms = {"phoneNumber": "+1234567890", "message": "hi", "contactId": "c", "workspaceId": "w"}
    scheduled = httpx.post(f"{dev.url}/api/schedule-sms", json=sms | {"delay": 300}, headers=auth)
    assert scheduled.status_code == 202
    dev.wait_for("the SMS callback", lambda: bool(receiver.to("/send-sms")), 15)
    assert receiver.to("/send-sms")[0].json()["jobId"] == scheduled.json()["jobId"]

    gateways_before = dev.output().count("Started server process")
    os.utime(ROOT / "functions" / "api" / "health.py")  # a code change, as an editor's save
    dev.wait_for("reload", lambda: "reloading: functions/api/health.py" in dev.output(), 10)
    dev.wait_for(
        "restarted gateway",
        lambda: dev.output().count("Started server process") > gateways_before and dev.healthy(),
        15,
    )

    processes = descendants(dev.process.pid)
    assert len(processes) >= 4  # redis, gateway, scheduler, worker (+ its forked process)
    dev.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert dev.process.wait(timeout=40) == 0
    wait_for(lambda: not any(alive(p) for p in processes), 10, "every child gone")
    assert "stopped" in dev.output()


def test_an_empty_redis_url_still_means_the_embedded_redis(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "")
    server = DevServer(
        host="127.0.0.1", port=0, threads=1, reload=False, data_dir=tmp_path, out=io.StringIO()
    )
    try:
        env = server.environment(Settings())
        assert server.redis is not None and env["REDIS_URL"] == server.redis.url
        assert "6379" not in env["REDIS_URL"]
    finally:
        if server.redis is not None:
            server.redis.stop()
