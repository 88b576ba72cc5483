"""The asynchronous client the gateway's group commit writes with."""

from __future__ import annotations

import asyncio

import pytest

from shared.redis_client import async_redis
from shared.settings import settings
from tests.conftest import on_cluster


def test_the_async_client_packs_by_hiredis_and_round_trips_every_argument_type(
    redis_prefix: str, request: pytest.FixtureRequest
) -> None:
    key = f"{redis_prefix}:{{packing}}:echo"
    args = ("plain", "naïve ☃", b"raw bytes", 42, -7, 1.5, "")

    async def round_trip() -> tuple[list[bytes], str]:
        client = async_redis()
        try:
            packed = ""
            if not settings.redis_cluster:  # a cluster client keeps redis-py's own packer
                connection = client.connection_pool.make_connection()
                packed = type(connection).__name__
            await client.rpush(key, *args)
            # a pipeline packs each of its commands the same way
            pipe = client.pipeline(transaction=False)
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            stored, _ = await pipe.execute()
            return stored, packed
        finally:
            await client.aclose()

    stored, packed = asyncio.run(round_trip())
    assert stored == ["plain", "naïve ☃", "raw bytes", "42", "-7", "1.5", ""]
    if not on_cluster(request.config):
        assert packed.startswith("Hiredis")
