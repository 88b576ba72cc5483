"""Importing a handler module (a Lambda cold start) starts no thread and opens no socket or
server: checked in a fresh interpreter, before and after importing every HTTP handler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.imports import handler_modules, parse_importtime

ROOT = Path(__file__).resolve().parents[2]

#: Runs in a fresh interpreter: imports the modules named in argv, prints what changed.
PROBE = """
import json, os, sys, threading, importlib

def sockets():
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found

def os_threads():
    return len(os.listdir("/proc/self/task"))

def children():
    pids = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            pids += f.read().split()
    return pids

before = (set(t.name for t in threading.enumerate()), sockets(), os_threads())
for name in sys.argv[1:]:
    importlib.import_module(name)
after = (set(t.name for t in threading.enumerate()), sockets(), os_threads())
print(json.dumps({
    "threads": sorted(after[0] - before[0]),
    "sockets": sorted(after[1] - before[1]),
    "os_threads": after[2] - before[2],
    "children": children(),
}))
"""


def probe(modules: list[str], env: dict[str, str], extra_path: Path | None = None) -> dict:
    if extra_path:
        env = {**env, "PYTHONPATH": str(extra_path)}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def handler_env(redis_url: str) -> dict[str, str]:
    """What a deployed function has: the service's settings, in production."""
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "APP_ENV": "production",
        "API_KEYS": "acme:k1",
        "SERVICE_TOKEN": "svc-token",
        "DASHBOARD_PASSWORD": "Dash-Board-Pass-7f3a9c2e",
    }


def test_importing_every_http_handler_starts_no_thread_and_opens_no_socket(redis_url):
    modules = handler_modules()
    assert len(modules) > 30  # every route of serverless.yml, not an empty list
    changed = probe(modules, handler_env(redis_url))
    assert changed == {"threads": [], "sockets": [], "os_threads": 0, "children": []}


def test_the_probe_sees_a_thread_and_a_listening_socket(tmp_path, redis_url):
    """The check above can fail: a module that starts a server at import is caught."""
    (tmp_path / "serves_at_import.py").write_text(
        "import socket, threading, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "threading.Thread(target=time.sleep, args=(30,), name='server', daemon=True).start()\n"
        "import atexit, subprocess; child = subprocess.Popen(['sleep', '30'])\n"
        "atexit.register(child.kill)\n"
    )
    changed = probe(["serves_at_import"], handler_env(redis_url), tmp_path)
    assert changed["threads"] == ["server"]
    assert len(changed["sockets"]) == 1 and changed["os_threads"] == 1
    assert len(changed["children"]) == 1


def test_importtime_reports_are_read_with_the_parent_packages():
    report = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 | site",
            "import time:       200 |       3000 | functions",
            "import time:        50 |         50 | functions.api",
            "import time:       700 |       1000 |   redis",
            "import time:       300 |      12000 | functions.api.health",
        ]
    )
    assert parse_importtime(report, "functions.api.health") == 15.05


#: Handlers and what their cold start must not pay for: PyJWT (only an admin JWT is verified
#: with it), Dramatiq and pendulum (workers; a cron run imports them when it queues), httpx
#: (callbacks and the AI API: workers). jobs_create keeps httpx: its sync bulk check calls out.
WORKER_ONLY = ("jwt", "dramatiq", "pendulum", "httpx")
LEAN = {
    **dict.fromkeys(
        ["schedule_sms", "schedule_email", "job_status", "health", "ai_job_create", "ai_response"],
        WORKER_ONLY,
    ),
    **dict.fromkeys(["cron_list", "cron_run", "jobs_create"], WORKER_ONLY[:3]),
}
#: The AI handlers store jobs; the providers and the offline models are for workers.
for _handler in ("ai_job_create", "ai_job_status", "ai_response"):
    LEAN[_handler] = (*WORKER_ONLY, "shared.ai.local_provider", "shared.ai.tasks")
#: The scheduling handlers load the job runner only for a send made in the call (Redis down).
for _handler in ("schedule_sms", "schedule_email"):
    LEAN[_handler] = (*LEAN[_handler], "shared.jobs.runner")
#: The dashboard's script and stylesheet are served without the template engine.
LEAN["dashboard_static"] = (*WORKER_ONLY, "jinja2")
#: Settings are read by shared.settings_source, not these libraries.
SETTINGS_LIBRARIES = ("pydantic_settings", "dotenv")


@pytest.mark.parametrize("handler", sorted(LEAN))
def test_handlers_do_not_import_worker_only_libraries(handler: str, redis_url):
    code = (
        "import importlib, sys\n"
        "importlib.import_module(sys.argv[2])\n"
        "print(' '.join(m for m in sys.argv[1].split(',') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, ",".join(LEAN[handler]), f"functions.api.{handler}"],
        cwd=ROOT,
        env=handler_env(redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == []


def test_no_handler_imports_a_settings_library(redis_url):
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[2:]:\n"
        "    importlib.import_module(name)\n"
        "print(' '.join(m for m in sys.argv[1].split(',') if m in sys.modules))\n"
    )
    modules = handler_modules()
    proc = subprocess.run(
        [sys.executable, "-c", code, ",".join(SETTINGS_LIBRARIES), *modules],
        cwd=ROOT,
        env=handler_env(redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == []
