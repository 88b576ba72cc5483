"""Fixtures of the deployment tests: real ``qs`` processes and a Redis of the test's own,
through the fault suite's ``Reaper`` (every process group killed at the end)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.faults.harness import Reaper


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
