"""``qs dev`` end to end: embedded Redis, healthy within 15 s, Ctrl-C (or a SIGKILL) leaves
nothing, children that die or fail to start are reported, restarted or replaced."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from local.dev import ROOT, DevServer
from shared.settings import Settings
from tests.conftest import wait_for
from tests.local.dev_process import (
    DevProcess,
    age_s,
    alive,
    clean_env,
    cmdline,
    descendants,
    settled,
)
from tests.servers import Receiver


def test_qs_dev_serves_health_reloads_on_change_and_stops_cleanly_on_ctrl_c(
    dev: DevProcess, receiver: Receiver
):
    elapsed = dev.wait_for("healthy /api/health", dev.healthy, timeout_s=15)
    assert elapsed < 15

    banner = dev.output()
    key = re.search(r"API key\s+(\S+)", banner)
    assert key and re.search(r"dashboard\s+http://\S+/admin/queues\s+\(admin / \S+\)", banner)
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


def test_a_killed_qs_dev_leaves_no_process_behind(dev: DevProcess):
    dev.wait_for("qs dev up", lambda: settled(dev), timeout_s=30)
    processes = descendants(dev.process.pid)
    assert len(processes) >= 5  # redis, fork server, gateway, worker (+ its process), scheduler
    dev.process.kill()  # SIGKILL: no chance to stop anything
    dev.process.wait()
    wait_for(lambda: not any(alive(p) for p in processes), 30, "every descendant gone")


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


def test_a_port_in_use_is_said_plainly(tmp_path: Path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        out = io.StringIO()
        server = DevServer(
            host="127.0.0.1", port=port, threads=1, reload=False, data_dir=tmp_path, out=out
        )
        assert server.run() == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in out.getvalue()


def test_qs_dev_refuses_to_start_with_a_broken_env_and_says_why(project: Path):
    (project / ".env").write_text("APP_ENV=staging\n")
    done = subprocess.run(
        [sys.executable, "-m", "local.cli", "dev", "--port", "0", "--no-reload"],
        cwd=project, env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1  # the settings are read (and refused) before anything starts
    said = (done.stdout + done.stderr).lower()
    assert "app_env" in said and "input should be 'dev' or 'production'" in said


def test_broken_code_keeps_the_running_gateway_and_dead_children_are_reported_and_restarted(
    project: Path, project_dev: DevProcess
):
    dev = project_dev
    dev.wait_for("healthy /api/health", dev.healthy, timeout_s=30)
    dev.wait_for("worker ready", lambda: "ready: " in dev.output(), 30)
    health = project / "functions" / "api" / "health.py"
    good = health.read_text()
    health.write_text(good + "\ndef broken(:\n")
    dev.wait_for(
        "the report",
        lambda: "gateway exited with code 1 with this change" in dev.output(),
        15,
    )
    assert "the previous gateway keeps running" in dev.output()
    assert "SyntaxError" in dev.output() and dev.healthy()
    health.write_text(good)
    dev.wait_for("reloaded", lambda: "reloaded: gateway serving" in dev.output(), 15)

    # children that die on their own: after CRASH_LOOP_S they are restarted at once
    gateway = int(re.findall(r"Started server process \[(\d+)\]", dev.output())[-1])
    wait_for(lambda: age_s(gateway) > 5.5, 15, "the gateway older than CRASH_LOOP_S")
    os.kill(gateway, signal.SIGKILL)
    dev.wait_for(
        "the gateway's death reported",
        lambda: "gateway exited unexpectedly with code -9; restarting it" in dev.output(),
        10,
    )
    dev.wait_for("a healthy new gateway", dev.healthy, 15)
    worker = int(re.findall(r"worker (\d+) ready", dev.output())[-1])
    wait_for(lambda: age_s(worker) > 5.5, 15, "the worker older than CRASH_LOOP_S")
    readies = dev.output().count(" ready: ")
    os.kill(worker, signal.SIGKILL)  # its supervisor exits with 1 and says so
    dev.wait_for(
        "the worker's death reported",
        lambda: "worker exited unexpectedly with code 1; restarting it" in dev.output(),
        15,
    )
    dev.wait_for("a new worker", lambda: dev.output().count(" ready: ") > readies, 30)

    (redis,) = (p for p in descendants(dev.process.pid) if b"redis-server" in cmdline(p))
    os.kill(redis, signal.SIGKILL)
    dev.wait_for(
        "the embedded Redis's death reported",
        lambda: "embedded Redis exited (code -9); restarting it with its data" in dev.output(),
        10,
    )
    dev.wait_for("healthy on the restarted Redis", dev.healthy, 15)
