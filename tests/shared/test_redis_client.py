"""The service's clients, blocking and asynchronous (the gateway's group commit writes with the
latter), and how they pack commands (``shared.redis_packing``)."""

from __future__ import annotations

import asyncio
import random

import pytest
import redis
from redis.connection import HiredisRespSerializer, PythonRespSerializer
from redis.exceptions import DataError

from shared.redis_client import async_redis, get_redis
from shared.redis_packing import FastPacker, packed
from shared.settings import settings
from tests.conftest import on_cluster

#: One of each argument type a command may carry, and what Redis stores for it.
ARGS = ("plain", "naïve ☃", b"raw bytes", 42, -7, 2**70, 1.5, "", b"\r\n\x00")
STORED = ["plain", "naïve ☃", "raw bytes", "42", "-7", str(2**70), "1.5", "", "\r\n\x00"]


def redis_py_packer() -> HiredisRespSerializer:
    """The packer redis-py's blocking connection uses with hiredis installed."""
    encode = redis.connection.Encoder("utf-8", "strict", False).encode
    return HiredisRespSerializer(PythonRespSerializer(6000, encode).pack, encode)


def test_commands_pack_to_the_bytes_redis_py_would_send() -> None:
    rng = random.Random(7)
    pieces: list[object] = [
        "EVALSHA", "k", "", "é", "\U0001f600", "a b", b"", b"\xff\r\n", 0, 1, -1, 2**64, -(2**70),
        1.25, float("inf"), memoryview(b"mv"), bytearray(b"ba"), "x" * 10_000,
    ]  # fmt: skip
    theirs, ours = redis_py_packer(), FastPacker(redis_py_packer())
    for _ in range(2_000):
        command = tuple(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        command = (rng.choice(["SET", "EVALSHA", "CLIENT SETNAME", b"GET"]), *command)
        assert b"".join(ours.pack(*command)) == b"".join(theirs.pack(*command)), command


def test_only_plain_arguments_take_the_one_call_path() -> None:
    assert packed(("EVALSHA", "sha", 1, "key", b"raw", -3)) is not None
    for command in (
        ("SET", "k", True),  # bool is refused by redis-py (DataError), not packed as 1
        ("SET", "k", None),
        ("SET", "k", 1.5),  # floats keep redis-py's repr
        ("SET", memoryview(b"k"), "v"),
        ("CLIENT SETNAME", "x"),  # split by redis-py into CLIENT, SETNAME
        (b"GET", "k"),
    ):
        assert packed(command) is None, command


def test_refused_arguments_are_refused_as_redis_py_refuses_them(redis_prefix: str) -> None:
    client = get_redis()
    for bad in (True, None, object()):
        with pytest.raises(DataError):
            client.set(f"{redis_prefix}:{{packing}}:bad", bad)  # type: ignore[arg-type]
    assert client.exists(f"{redis_prefix}:{{packing}}:bad") == 0


def test_the_blocking_client_round_trips_every_argument_type(
    redis_prefix: str, request: pytest.FixtureRequest
) -> None:
    key = f"{redis_prefix}:{{packing}}:blocking"
    client = get_redis()
    client.rpush(key, *ARGS)
    pipe = client.pipeline(transaction=False)  # a pipeline packs each command the same way
    pipe.lrange(key, 0, -1)
    pipe.delete(key)
    stored, _ = pipe.execute()
    assert stored == STORED
    if not on_cluster(request.config):  # a cluster client keeps redis-py's own packer
        connection = client.connection_pool.make_connection()
        assert isinstance(connection._command_packer, FastPacker)
        connection.disconnect()


def test_the_async_client_round_trips_every_argument_type(
    redis_prefix: str, request: pytest.FixtureRequest
) -> None:
    key = f"{redis_prefix}:{{packing}}:echo"

    async def round_trip() -> tuple[list[bytes], str]:
        client = async_redis()
        try:
            packed_by = ""
            if not settings.redis_cluster:
                connection = client.connection_pool.make_connection()
                packed_by = type(connection).__name__
            await client.rpush(key, *ARGS)
            pipe = client.pipeline(transaction=False)
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            stored, _ = await pipe.execute()
            return stored, packed_by
        finally:
            await client.aclose()

    stored, packed_by = asyncio.run(round_trip())
    assert stored == STORED
    if not on_cluster(request.config):
        assert packed_by.startswith("Fast")
