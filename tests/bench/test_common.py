"""bench.common's process-wide settings switch between sections."""

from __future__ import annotations

import pytest

from bench.common import PREFIX, use_redis
from shared.settings import settings


def test_use_redis_points_at_one_redis_even_after_a_cluster_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("redis_url", "redis_prefix", "redis_cluster", "queue_limits"):
        monkeypatch.setattr(settings, name, getattr(settings, name))
    settings.redis_cluster = True  # what the cluster section leaves for its cluster side
    use_redis("redis://127.0.0.1:6390/0")
    assert settings.redis_cluster is False
    assert (settings.redis_url, settings.redis_prefix) == ("redis://127.0.0.1:6390/0", PREFIX)
