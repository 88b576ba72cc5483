"""The self-hosting files agree with the code: the Procfile, the systemd units and
infra/compose.yaml run ``qs`` subcommands that exist with options ``qs`` accepts, set only
settings that exist, restart on failure and give the worker time to finish its jobs."""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from local.cli import parser
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
UNITS = {
    role: INFRA / "systemd" / f"qs-{role}.service" for role in ("gateway", "worker", "scheduler")
}
#: Seconds a stopped worker gets beyond WORKER_SHUTDOWN_TIMEOUT_S before a SIGKILL.
MARGIN = (10, 30)
#: Every environment name Settings reads.
ENV_NAMES = {name.upper() for name in Settings.model_fields} | {
    "DASHBOARD_USERNAME", "DASHBOARD_PASSWORD", "BULL_BOARD_USERNAME", "BULL_BOARD_PASSWORD",
}  # fmt: skip
SHUTDOWN_S = Settings.model_fields["worker_shutdown_timeout_s"].default


def procfile() -> dict[str, str]:
    """Process type -> command, as Heroku and honcho read the Procfile."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_-]+):\s*(.+)", line)
        if match:
            entries[match[1]] = match[2]
    return entries


def qs_args(argv: list[str]) -> Any:
    """``argv`` (``qs ...``) parsed by the real ``qs`` parser; fails on an unknown option."""
    assert Path(argv[0]).name == "qs", argv
    return parser().parse_args(argv[1:])


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min)?", str(text).strip())
    assert match, text
    return float(match[1]) * (60 if match[2] == "min" else 1)


def test_the_procfile_runs_gateway_worker_and_scheduler():
    entries = procfile()
    assert set(entries) == {"web", "worker", "scheduler"}  # "web": the type that gets HTTP
    commands = {}
    for kind, command in entries.items():
        argv = shlex.split(command.replace("${PORT:-3000}", "3000"))
        assert argv[0] == "exec", command  # else the shell, not qs, gets SIGTERM and dies of it
        commands[kind] = qs_args(argv[1:]).command
    assert commands == {"web": "gateway", "worker": "worker", "scheduler": "scheduler"}
    gateway = qs_args(shlex.split(entries["web"].replace("${PORT:-3000}", "3000"))[1:])
    assert gateway.host == "0.0.0.0" and "--port ${PORT:-3000}" in entries["web"]  # the PaaS port


def unit(role: str) -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None, strict=False)
    config.optionxform = str  # type: ignore[assignment,method-assign]
    config.read_string(UNITS[role].read_text())
    return config


@pytest.mark.parametrize("role", sorted(UNITS))
def test_each_systemd_unit_restarts_on_failure_and_stops_gracefully(role: str):
    service = unit(role)["Service"]
    assert qs_args(shlex.split(service["ExecStart"])).command == role
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert service["EnvironmentFile"].lstrip("-").startswith("/")
    assert service["User"] not in ("", "root", "0") and service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict" and service["PrivateTmp"] == "yes"
    stop_s = seconds(service["TimeoutStopSec"])
    if role == "worker":
        assert SHUTDOWN_S + MARGIN[0] <= stop_s <= SHUTDOWN_S + MARGIN[1]
    else:
        assert stop_s >= 10  # the gateway's graceful shutdown is 10 s
    assert unit(role)["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("role", sorted(UNITS))
def test_systemd_analyze_verify_finds_nothing_to_say(role: str, tmp_path: Path):
    """``systemd-analyze verify`` on each unit, its install paths pointed at this checkout
    (verify checks that ExecStart exists); any warning (an unknown key, a bad value) fails."""
    env_file = tmp_path / "env"
    env_file.write_text("APP_ENV=dev\n")
    text = UNITS[role].read_text()
    text = text.replace(
        "/opt/queue-services/.venv/bin/qs", str(Path(sys.executable).with_name("qs"))
    )
    text = text.replace("WorkingDirectory=/opt/queue-services", f"WorkingDirectory={ROOT}")
    text = text.replace("EnvironmentFile=/etc/queue-services/env", f"EnvironmentFile={env_file}")
    assert str(ROOT) in text and str(env_file) in text
    copy = tmp_path / UNITS[role].name
    copy.write_text(text)
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if copy.name in line]
    assert proc.returncode == 0 and ours == [], proc.stdout + proc.stderr


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((INFRA / "compose.yaml").read_text())
    return doc


def entrypoint() -> list[str]:
    """The ENTRYPOINT of infra/Dockerfile (exec form)."""
    import json

    lines = [
        ln for ln in (INFRA / "Dockerfile").read_text().splitlines() if ln.startswith("ENTRYPOINT")
    ]
    assert len(lines) == 1
    value: list[str] = json.loads(lines[0].removeprefix("ENTRYPOINT"))
    return value


def test_compose_runs_redis_and_the_three_qs_processes_from_the_project_image():
    from local.healthcheck import ROLES

    assert entrypoint() == ["python", "-m", "local.cli"]  # `qs`: a command is its arguments
    services = compose()["services"]
    assert set(services) == {"redis", "gateway", "worker", "scheduler"}
    for role in ("gateway", "worker", "scheduler"):
        spec = services[role]
        assert qs_args(["qs", *spec["command"]]).command == role
        assert spec["build"] == {"context": "..", "dockerfile": "infra/Dockerfile"}
        assert (INFRA / spec["build"]["context"] / spec["build"]["dockerfile"]).is_file()
        assert spec["restart"] in ("always", "unless-stopped", "on-failure")
        assert spec["read_only"] is True and spec["cap_drop"] == ["ALL"]
        assert spec["tmpfs"] == ["/tmp"]  # the image's one writable path
        assert spec["depends_on"]["redis"]["condition"] == "service_healthy"
        unknown = set(spec["environment"]) - ENV_NAMES
        assert not unknown, f"{role}: {unknown} are not settings (shared/settings.py)"
        assert spec["environment"]["APP_ENV"] == "production"
        assert spec["healthcheck"]["test"] == ["CMD", "python", "-m", "local.healthcheck", role]
        assert role in ROLES
    worker = services["worker"]
    shutdown = float(worker["environment"]["WORKER_SHUTDOWN_TIMEOUT_S"])
    grace = seconds(worker["stop_grace_period"])
    assert shutdown + MARGIN[0] <= grace <= shutdown + MARGIN[1]


def test_compose_redis_uses_infra_redis_conf_on_a_volume_with_a_health_check():
    redis = compose()["services"]["redis"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in redis["volumes"]}
    conf = next(src for src, dst in mounts.items() if dst.endswith("redis.conf"))
    assert (INFRA / conf).resolve() == INFRA / "redis.conf"
    assert redis["command"][:2] == ["redis-server", mounts[conf]]
    assert "--requirepass" in redis["command"]
    assert redis["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]
    assert "noeviction" in (INFRA / "redis.conf").read_text()
    assert mounts["redis-data"] == "/data" and "redis-data" in compose()["volumes"]


def test_compose_gateway_publishes_its_port_and_listens_on_every_interface():
    gateway = compose()["services"]["gateway"]
    args = qs_args(["qs", *gateway["command"]])
    assert args.host == "0.0.0.0"
    assert any(p.endswith(f":{args.port}") for p in gateway["ports"])
