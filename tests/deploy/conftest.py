"""Fixtures of the deployment tests: real ``qs`` processes and a Redis of the test's own,
through the fault suite's ``reaper`` fixture and its report hook (every process group killed at
the end; a failing test's report carries each process's output)."""

from tests.faults.conftest import pytest_runtest_makereport, reaper

__all__ = ["pytest_runtest_makereport", "reaper"]
