"""``qs dev`` as a real child process for tests: its output collected, its processes found."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from local.dev import ROOT


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


def copy_project(root: Path) -> Path:
    """A copy of the project's code and ``serverless.yml`` (``functions:`` last, so that a
    function can be appended), without a ``.env``."""
    for folder in ("functions", "shared", "local"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    doc = yaml.safe_load((ROOT / "serverless.yml").read_text())
    functions = doc.pop("functions")
    text = yaml.safe_dump(doc, sort_keys=False) + yaml.safe_dump({"functions": functions})
    (root / "serverless.yml").write_text(text)
    return root
