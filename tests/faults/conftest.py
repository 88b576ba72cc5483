"""Fixtures of the fault suite: a Redis, a receiver and ``qs`` processes per test, all killed
at the end; a failing test's report carries the tail of every process's output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import FaultReceiver, Reaper, RedisServer, Service


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    reaper = getattr(item, "funcargs", {}).get("reaper")
    if report.failed and isinstance(reaper, Reaper):
        report.sections.append(("process output", reaper.logs()))
    return report


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    """Every process a test starts; all killed (SIGKILL to the group) when it ends."""
    processes = Reaper()
    yield processes
    processes.reap()


@pytest.fixture
def redis_server(reaper: Reaper, tmp_path: Path) -> RedisServer:
    """A Redis of this test alone, AOF everysec under ``tmp_path``."""
    return RedisServer(reaper, tmp_path / "redis").start()


@pytest.fixture
def receiver() -> Iterator[FaultReceiver]:
    """The backend callbacks go to (``SMS_API_URL``, ``FAILURE_WEBHOOK_URL``), up."""
    backend = FaultReceiver()
    backend.up()
    yield backend
    backend.down()


@pytest.fixture
def service(
    reaper: Reaper, tmp_path: Path, redis_server: RedisServer, receiver: FaultReceiver
) -> Service:
    """Starts ``qs`` processes on this test's Redis, pointed at the receiver."""
    return Service(reaper, tmp_path, redis_server, receiver.url)
