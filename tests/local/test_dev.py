"""``qs dev`` end to end: embedded Redis, healthy within 15 s, hot reload, Ctrl-C leaves nothing."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

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


#: What the dev process must not inherit from the test's environment: it reads them from the
#: project's ``.env`` (which the environment would override) or makes them up.
CONFIGURED = ("API_KEYS", "SERVICE_TOKEN", "DASHBOARD_PASSWORD", "BULL_BOARD_PASSWORD", "APP_ENV")


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without Redis settings or credentials, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("REDIS_") and k not in CONFIGURED
    }
    return env | {"PYTHONUNBUFFERED": "1"} | extra


class DevProcess:
    """``qs dev`` as a child process, run in ``root``, whose output lines are collected."""

    def __init__(
        self, port: int, data_dir: Path | None, sms_api_url: str, root: Path = ROOT
    ) -> None:
        env = clean_env(SMS_API_URL=sms_api_url)
        data = ["--data-dir", str(data_dir)] if data_dir else []
        self.lines: list[str] = []
        self.errors: list[str] = []  #: requests that got no answer
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.cli", "dev", "--port", str(port), *data],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
            time.sleep(0.02)
        return time.monotonic() - started

    def status(self, path: str, **headers: str) -> int:
        """The status of ``GET path``; 0 when there is no answer."""
        try:
            return httpx.get(f"{self.url}{path}", headers=headers, timeout=2).status_code
        except httpx.HTTPError as exc:
            self.errors.append(f"GET {path}: {exc!r}")
            return 0

    def healthy(self) -> bool:
        return self.status("/api/health") == 200

    def key(self) -> str:
        found = re.search(r"API key\s+(\S+)", self.output())
        assert found, self.output()
        return found.group(1)

    def stop(self) -> None:
        """Ctrl-C, as a developer stops it; SIGKILL for everything left after 40 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=40)
        if self.process.poll() is None:
            for pid in descendants(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.kill()
        self.process.wait()


@pytest.fixture
def dev(tmp_path: Path, receiver: Receiver) -> Iterator[DevProcess]:
    server = DevProcess(free_port(), tmp_path / ".local", receiver.url)
    yield server
    server.stop()


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


# --- reloads, in a copy of the project (its serverless.yml and .env are the test's to edit) ---


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's code and ``serverless.yml`` (``functions:`` last, so that a
    function can be appended), without a ``.env``."""
    root = tmp_path / "project"
    for folder in ("functions", "shared", "local"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    doc = yaml.safe_load((ROOT / "serverless.yml").read_text())
    functions = doc.pop("functions")
    text = yaml.safe_dump(doc, sort_keys=False) + yaml.safe_dump({"functions": functions})
    (root / "serverless.yml").write_text(text)
    return root


@pytest.fixture
def project_dev(project: Path, receiver: Receiver) -> Iterator[DevProcess]:
    server = DevProcess(free_port(), None, receiver.url, root=project)
    yield server
    server.stop()


def alias(name: str) -> str:
    """A ``serverless.yml`` function entry: the health handler on ``GET /api/<name>``."""
    return (
        f"  {name}:\n    handler: functions/api/health.handler\n"
        f'    events:\n      - httpApi: "GET /api/{name}"\n'
    )


def settled(dev: DevProcess) -> bool:
    """Whether ``qs dev`` has finished its last reload (or its start): every child serves."""
    out = dev.output()
    started = "qs dev   | up after " in out
    finished = out.count("reloaded: ") + out.count("the running version keeps serving: ")
    return started and finished >= out.count("reloading: ")


def seconds_to_200(
    dev: DevProcess, path: str, edit: Callable[[], object], *, settle: bool = True
) -> float:
    """Seconds from the start of ``edit()`` until ``GET path`` answers 200, once ``qs dev`` has
    settled after the previous change (unless ``settle`` is false)."""
    if settle:
        dev.wait_for("the previous reload done", lambda: settled(dev), 30)
    assert dev.status(path) == 404, dev.errors
    started = time.monotonic()
    edit()
    dev.wait_for(f"200 on {path}", lambda: dev.status(path) == 200, 15)
    return time.monotonic() - started


def test_serverless_yml_edits_reload_to_a_200_fast_and_a_broken_one_keeps_the_last_good(
    project: Path, project_dev: DevProcess
):
    dev, manifest = project_dev, project / "serverless.yml"
    dev.wait_for("healthy /api/health", dev.healthy, timeout_s=30)
    inode = manifest.stat().st_ino

    def sed_in_place(name: str) -> None:  # sed -i writes a new file and renames it over the old
        entry = alias(name).replace("\n", "\\n")
        subprocess.run(
            ["sed", "-i", f"s|^functions:$|functions:\\n{entry}|", str(manifest)], check=True
        )

    def append(name: str) -> None:
        with manifest.open("a") as file:
            file.write(alias(name))

    figures = [
        seconds_to_200(dev, "/api/alias-sed", lambda: sed_in_place("alias-sed")),
        seconds_to_200(dev, "/api/alias-appended", lambda: append("alias-appended")),
        seconds_to_200(dev, "/api/alias-sed-again", lambda: sed_in_place("alias-sed-again")),
    ]
    assert manifest.stat().st_ino != inode  # the watch followed the new inode
    print(f"edit of serverless.yml to a 200: {', '.join(f'{s:.2f}' for s in figures)} s")
    reported = re.findall(r"reloaded: gateway serving after ([\d.]+) s", dev.output())
    print(f"qs dev's own figures, change seen to gateway serving: {', '.join(reported)} s")
    assert statistics.median(figures) < 3.0  # ~0.3 s idle; generous for a loaded 2-core box

    # edits in quick succession: each is served without waiting for the workers of the last
    burst = [
        seconds_to_200(dev, f"/api/burst-{i}", lambda i=i: append(f"burst-{i}"), settle=False)
        for i in range(3)
    ]
    print(f"edits in a burst, each to a 200: {', '.join(f'{s:.2f}' for s in burst)} s")
    assert max(burst) < 3.0
    dev.wait_for("workers of the last edit", lambda: settled(dev), 30)

    good = manifest.read_text()
    dev.wait_for("the last reload done", lambda: settled(dev), 30)
    manifest.write_text(good + "  broken:\n    events: [\n")  # a YAML syntax error
    dev.wait_for("the report", lambda: "serverless.yml is invalid" in dev.output(), 10)
    assert "the running version keeps serving" in dev.output()
    assert dev.status("/api/alias-appended") == 200
    manifest.write_text(good + "  no-handler:\n    events: []\n")  # valid YAML, not a manifest
    dev.wait_for("the report", lambda: "'no-handler' has no handler" in dev.output(), 10)
    assert dev.status("/api/alias-sed") == 200

    seconds_to_200(
        dev, "/api/alias-fixed", lambda: manifest.write_text(good + alias("alias-fixed"))
    )


def test_no_request_fails_while_the_gateway_is_replaced(project: Path, project_dev: DevProcess):
    dev = project_dev
    dev.wait_for("qs dev up", lambda: settled(dev), timeout_s=30)
    answers: list[int | str] = []
    done = threading.Event()

    def hammer() -> None:  # a new connection per request, as a browser's refresh would
        while not done.is_set():
            try:
                answers.append(httpx.get(f"{dev.url}/api/health", timeout=10).status_code)
            except httpx.HTTPError as exc:
                answers.append(repr(exc))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        for i in range(3):
            reloads = dev.output().count("reloaded: ")
            os.utime(project / "functions" / "api" / "health.py")
            dev.wait_for(f"reload {i}", lambda n=reloads: dev.output().count("reloaded: ") > n, 15)
    finally:
        done.set()
        thread.join()
    assert dev.output().count("Started server process") >= 4  # the gateway was replaced 3 times
    assert len(answers) > 10 and set(answers) == {200}, [a for a in answers if a != 200]


def test_a_connection_the_old_gateway_accepted_is_still_served_after_the_handover(
    project: Path, project_dev: DevProcess
):
    dev = project_dev
    dev.wait_for("qs dev up", lambda: settled(dev), timeout_s=30)
    port = int(dev.url.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port)) as idle:  # accepted, no request yet
        assert dev.healthy()  # the only gateway serves, so it has accepted `idle` by now
        handovers = dev.output().count("Handing over to the next gateway")
        os.utime(project / "functions" / "api" / "health.py")
        dev.wait_for(
            "the old gateway handing over",
            lambda: dev.output().count("Handing over to the next gateway") > handovers,
            15,
        )
        idle.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        idle.settimeout(10)
        answer = b""
        while chunk := idle.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_env_edits_reload_after_create_append_and_sed_and_a_broken_env_keeps_the_last_good(
    project: Path, project_dev: DevProcess
):
    dev, dotenv = project_dev, project / ".env"
    dev.wait_for("healthy /api/health", dev.healthy, timeout_s=30)
    probe = "/api/job-status/no-such-job"  # 404 for a valid key, 401 for any other

    def accepted(key: str) -> Callable[[], bool]:
        return lambda: dev.status(probe, authorization=f"Bearer {key}") == 404

    dev_key = dev.key()
    assert accepted(dev_key)() and not accepted("k1")()
    dotenv.write_text("API_KEYS=k1\n")  # a .env that did not exist when qs dev started
    dev.wait_for("k1 accepted", accepted("k1"), 15)
    # the made-up key is gone with API_KEYS set (once the old gateway has stopped accepting)
    dev.wait_for("the dev key refused", lambda: not accepted(dev_key)(), 5)
    with dotenv.open("a") as file:
        file.write("SERVICE_TOKEN=token-2\n")
    dev.wait_for("the appended token accepted", accepted("token-2"), 15)
    inode = dotenv.stat().st_ino
    subprocess.run(["sed", "-i", "s/^API_KEYS=k1$/API_KEYS=k3/", str(dotenv)], check=True)
    dev.wait_for("k3 accepted after sed -i", accepted("k3"), 15)
    assert dotenv.stat().st_ino != inode
    dev.wait_for("k1 refused", lambda: not accepted("k1")(), 5)

    with dotenv.open("a") as file:
        file.write("APP_ENV=staging\n")  # not dev or production
    dev.wait_for("the report", lambda: ".env is invalid" in dev.output(), 10)
    assert "app_env" in dev.output().lower() and accepted("k3")()
    subprocess.run(["sed", "-i", "/^APP_ENV=/d", str(dotenv)], check=True)
    with dotenv.open("a") as file:
        file.write("API_KEYS=k4\n")  # the later line wins, as in any dotenv reader
    dev.wait_for("k4 accepted", accepted("k4"), 15)


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


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def age_s(pid: int) -> float:
    """Seconds since process ``pid`` started (from /proc)."""
    ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - ticks / os.sysconf("SC_CLK_TCK")


def test_qs_invoke_under_qs_dev_uses_its_redis_and_key_through_dev_env(
    project: Path, project_dev: DevProcess
):
    dev = project_dev
    dev.wait_for("healthy /api/health", dev.healthy, timeout_s=30)
    dev_env = project / ".local" / "dev.env"
    assert "REDIS_URL=redis://127.0.0.1:" in dev_env.read_text()
    assert dev_env.stat().st_mode & 0o777 == 0o600

    def qs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "local.cli", *args],
            cwd=project, env=clean_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    sample = ROOT / "tests" / "events" / "http_post_schedule_sms.json"
    done = qs("invoke", "schedule-sms", "--event", str(sample))
    assert done.returncode == 0, done.stderr
    assert "REDIS_URL, API_KEYS, DASHBOARD_PASSWORD of the running qs dev" in done.stderr
    response = json.loads(done.stdout)
    assert response["statusCode"] == 202, response
    job = json.loads(response["body"])["jobId"]
    auth = {"authorization": f"Bearer {dev.key()}"}
    status = httpx.get(f"{dev.url}/api/job-status/{job}", headers=auth, timeout=5)
    assert status.status_code == 200  # the job is in qs dev's embedded Redis

    # an AI job: the worker, itself forked from qs dev's fork server, runs the offline
    # provider in children of a fork server of its own
    ai = httpx.post(f"{dev.url}/v1/jobs/sentiment", json={"text": "great"}, headers=auth)
    assert ai.status_code == 202, ai.text

    def ai_status() -> str:
        return str(httpx.get(f"{dev.url}/v1/jobs/{ai.json()['id']}", headers=auth).json()["status"])

    dev.wait_for("the AI job done", lambda: ai_status() == "SUCCEEDED", 30)

    # the synthesised event of a route carries the dev key too
    done = qs("invoke", "ai-jobs-list")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statusCode"] == 200  # authenticated, not a 401

    dev.process.send_signal(signal.SIGINT)
    assert dev.process.wait(timeout=40) == 0
    assert not dev_env.exists()  # removed on the way out


def test_a_stale_dev_env_is_removed_and_ignored(project: Path):
    gone = subprocess.Popen([sys.executable, "-c", "pass", "dev"])
    gone.wait()
    dev_env = project / ".local" / "dev.env"
    dev_env.parent.mkdir()
    dev_env.write_text(f"QS_DEV_PID={gone.pid}\nREDIS_URL=redis://127.0.0.1:1/0\nAPI_KEYS=old\n")
    done = subprocess.run(
        [sys.executable, "-m", "local.cli", "routes"],
        cwd=project, env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and "of the running qs dev" not in done.stderr
    assert not dev_env.exists()


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


def test_a_killed_qs_dev_leaves_no_process_behind(dev: DevProcess):
    dev.wait_for("qs dev up", lambda: settled(dev), timeout_s=30)
    processes = descendants(dev.process.pid)
    assert len(processes) >= 5  # redis, fork server, gateway, worker (+ its process), scheduler
    dev.process.kill()  # SIGKILL: no chance to stop anything
    dev.process.wait()
    wait_for(lambda: not any(alive(p) for p in processes), 30, "every descendant gone")
