"""``.local/dev.env``: written by ``qs dev``, read by the other ``qs`` commands (a live writer
only, and never over anything configured)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local import devenv
from local.dev import ROOT
from shared.settings import Settings
from tests.conftest import wait_for
from tests.local.dev_process import DevProcess, clean_env


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Redis or credentials from the caller's environment (``make test`` may set REDIS_URL)."""
    for name in ("REDIS_URL", "REDIS_HOST", "API_KEYS", "SERVICE_TOKEN", "DASHBOARD_PASSWORD"):
        monkeypatch.setenv(name, "")  # recorded, so the undo also removes what apply() sets
        monkeypatch.delenv(name)


@pytest.fixture
def live_dev() -> Iterator[int]:
    """A live process whose command line has a ``dev`` argument, as ``qs dev``'s has."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "dev"])
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    wait_for(lambda: b"\0dev\0" in cmdline.read_bytes(), 10, "the exec of the fake qs dev")
    yield process.pid
    process.kill()
    process.wait()


def written_by(pid: int, path: Path, **values: str) -> Path:
    lines = [f"{devenv.PID_KEY}={pid}", *(f"{k}={v}" for k, v in values.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_a_live_dev_env_fills_what_is_not_configured(tmp_path: Path, live_dev: int):
    path = written_by(
        live_dev, tmp_path / "dev.env",
        REDIS_URL="redis://127.0.0.1:4242/0", API_KEYS="devkey", DASHBOARD_PASSWORD="pw",
    )  # fmt: skip
    cfg = settings()
    assert devenv.apply(cfg, path) == ["REDIS_URL", "API_KEYS", "DASHBOARD_PASSWORD"]
    assert cfg.resolved_redis_url() == "redis://127.0.0.1:4242/0"
    assert devenv.api_key(cfg) == "devkey" and cfg.dashboard_password == "pw"
    assert os.environ["REDIS_URL"] == "redis://127.0.0.1:4242/0"  # for processes started here


def test_configured_values_win_over_a_live_dev_env(tmp_path: Path, live_dev: int):
    path = written_by(
        live_dev, tmp_path / "dev.env",
        REDIS_URL="redis://127.0.0.1:4242/0", API_KEYS="devkey", DASHBOARD_PASSWORD="pw",
    )  # fmt: skip
    cfg = settings(redis_host="redis.internal", service_token="tok", dashboard_password="mine")
    assert devenv.apply(cfg, path) == []
    assert cfg.resolved_redis_url() == "redis://redis.internal:6379/0"
    assert devenv.api_key(cfg) == "tok" and cfg.dashboard_password == "mine"
    assert path.exists()  # still qs dev's


def test_a_file_of_a_gone_or_unrelated_process_is_removed_and_ignored(tmp_path: Path):
    gone = subprocess.Popen([sys.executable, "-c", "pass", "dev"])
    gone.wait()
    for pid in (gone.pid, os.getpid(), "junk"):  # exited; alive but not qs dev; not a pid
        path = written_by(pid, tmp_path / "dev.env", REDIS_URL="redis://127.0.0.1:4242/0")
        cfg = settings()
        assert devenv.apply(cfg, path) == []
        assert not path.exists() and cfg.redis_url is None


def test_written_atomically_private_and_removed_only_by_its_writer(tmp_path: Path, live_dev: int):
    path = tmp_path / "sub" / "dev.env"
    devenv.write(path, {"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert path.stat().st_mode & 0o777 == 0o600
    assert devenv.read(path) == {
        devenv.PID_KEY: str(os.getpid()),
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    assert list(path.parent.iterdir()) == [path]  # no temporary file left
    written_by(live_dev, path)
    devenv.remove(path)  # another process's file: left alone
    assert path.exists()
    devenv.write(path, {})
    devenv.remove(path)
    assert not path.exists()


# --- with a real qs dev ---------------------------------------------------------------------


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
