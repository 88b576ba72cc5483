"""Fixtures for emulator tests: the fixture manifest, ``qs dev`` in the project or in a copy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.embedded_redis import free_port
from local.manifest import Manifest, load
from tests.local.dev_process import DevProcess, copy_project
from tests.servers import Receiver

FIXTURE_MANIFEST = Path(__file__).resolve().parent.parent / "fixtures" / "serverless.yml"


@pytest.fixture
def fixture_manifest() -> Manifest:
    return load(FIXTURE_MANIFEST)


@pytest.fixture
def dev(tmp_path: Path, receiver: Receiver) -> Iterator[DevProcess]:
    """``qs dev`` in the project itself, its data in a temporary folder."""
    server = DevProcess(free_port(), tmp_path / ".local", receiver.url)
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project whose ``serverless.yml`` and ``.env`` a test may edit."""
    return copy_project(tmp_path / "project")


@pytest.fixture
def project_dev(project: Path, receiver: Receiver) -> Iterator[DevProcess]:
    """``qs dev`` in that copy (data in its ``.local/``)."""
    server = DevProcess(free_port(), None, receiver.url, root=project)
    yield server
    server.stop()
