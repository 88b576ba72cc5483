"""Fixtures for emulator tests: the fixture manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.manifest import Manifest, load

FIXTURE_MANIFEST = Path(__file__).resolve().parent.parent / "fixtures" / "serverless.yml"


@pytest.fixture
def fixture_manifest() -> Manifest:
    return load(FIXTURE_MANIFEST)
