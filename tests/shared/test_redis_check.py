"""The start-up Redis configuration check, against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.embedded_redis import EmbeddedRedis
from shared import redis_check
from shared.settings import settings


@pytest.fixture
def scratch_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A throwaway server this test may reconfigure."""
    server = EmbeddedRedis(tmp_path, persist=True).start()
    monkeypatch.setattr(settings, "redis_url", server.url)
    yield server
    server.stop()


def test_a_queue_ready_server_passes_silently(scratch_redis, caplog):
    fatal, warnings = redis_check.redis_problems(redis_check.get_redis())
    assert (fatal, warnings) == ([], [])


def test_an_evicting_server_is_refused_in_production(scratch_redis, monkeypatch):
    client = redis_check.get_redis()
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("appendonly", "no")
    fatal, warnings = redis_check.redis_problems(client)
    assert "allkeys-lru" in fatal[0] and "appendonly is off" in warnings[0]
    redis_check.check_redis_at_startup()  # dev: logged only
    monkeypatch.setattr(settings, "app_env", "production")
    with pytest.raises(redis_check.UnsafeRedis, match="noeviction"):
        redis_check.check_redis_at_startup()


def test_a_redis_cluster_with_a_node_down_is_refused_at_start_up(monkeypatch):
    from tests.cluster import redis_cluster

    with redis_cluster(masters=3, replicas_per_master=1) as cluster:
        monkeypatch.setattr(settings, "redis_url", cluster.seed_url)
        monkeypatch.setattr(settings, "redis_cluster", True)
        redis_check.check_redis_at_startup()  # whole: starts
        down = cluster.replicas[0]
        down.kill()
        with pytest.raises(
            redis_check.UnsafeRedis, match=rf"unreachable.*{down.port}|{down.port}.*unreachable"
        ):
            redis_check.check_redis_at_startup()


def test_a_server_hiding_config_is_still_checked_through_info(tmp_path: Path):
    """ElastiCache blocks CONFIG; the policy and AOF come from INFO instead."""
    from tests.faults.harness import Reaper, RedisServer

    reaper = Reaper()
    try:
        server = RedisServer(
            reaper, tmp_path / "hidden", "--rename-command", "CONFIG", "",
            "--maxmemory-policy", "allkeys-lru", "--appendonly", "no",
        ).start()  # fmt: skip
        client = server.client()
        fatal, warnings = redis_check.redis_problems(client)
        assert fatal == [
            "maxmemory-policy is 'allkeys-lru': jobs may be evicted; set it to 'noeviction'"
        ]
        assert warnings[0].startswith("appendonly is off:")  # the snapshot schedule is unknown
    finally:
        reaper.reap()
