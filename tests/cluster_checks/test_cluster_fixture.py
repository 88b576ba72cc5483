"""The local Redis Cluster of ``tests/cluster.py`` is a real one: sharded, replicated, strict
about ``#!lua`` scripts' slots, and it fails over when a master dies."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from tests.cluster import (
    SLOTS,
    ClusterError,
    LocalCluster,
    Node,
    cluster_info,
    cluster_nodes,
    redis_cluster,
    single_node_cluster,
)

#: A Redis 7 script without ``allow-cross-slot-keys``: it declares ``KEYS[1]`` and also writes
#: ``ARGV[1]``, a key it builds itself.
WRITES_TWO_KEYS = """#!lua
redis.call('SET', KEYS[1], 'declared')
return redis.call('SET', ARGV[1], 'built in the script')
"""


@pytest.fixture(scope="module")
def one_node() -> Iterator[LocalCluster]:
    with single_node_cluster() as cluster:
        yield cluster


def keys_on_every_master(client: RedisCluster, masters: int) -> dict[str, str]:
    """One key per master, as ``{key: node name}``."""
    found: dict[str, str] = {}
    n = 0
    while len(set(found.values())) < masters:
        key = f"fixture-check:{{k{n}}}"
        node = client.get_node_from_key(key).name
        if node not in found.values():
            found[key] = node
        n += 1
    return found


def test_the_cluster_has_three_primaries_each_with_one_replica_and_every_slot_covered(
    redis_cluster: LocalCluster,
) -> None:
    view = cluster_nodes(redis_cluster.masters[0])
    masters = {v.node_id: v for v in view if v.role == "master"}
    replicas = [v for v in view if v.role == "slave"]
    assert len(masters) == 3
    assert sorted(v.master_id for v in replicas) == sorted(masters)  # one replica each
    covered: list[int] = []
    for master in masters.values():
        for part in master.slots:
            first, _, last = part.partition("-")
            covered += range(int(first), int(last or first) + 1)
    assert sorted(covered) == list(range(SLOTS))  # every slot once
    for node in redis_cluster.nodes:
        info = cluster_info(node)
        assert info["cluster_state"] == "ok"
        assert info["cluster_known_nodes"] == "6"
        assert cluster_nodes(node) == view  # every node agrees
    client = redis_cluster.client()
    assert len(client.get_primaries()) == 3
    assert len(client.get_replicas()) == 3
    client.close()


def test_cluster_client_sets_and_gets_keys_that_live_on_different_masters(
    redis_cluster: LocalCluster,
) -> None:
    client = redis_cluster.client()
    placed = keys_on_every_master(client, 3)
    try:
        for key in placed:
            client.set(key, key.upper())
        assert {key: client.get(key) for key in placed} == {k: k.upper() for k in placed}
        for key, owner in placed.items():
            node = redis_cluster.master_of_slot(client.keyslot(key))
            assert f"127.0.0.1:{node.port}" == owner
            direct = node.client()
            assert direct.get(key) == key.upper()  # stored on that master itself
            direct.close()
            other = next(m for m in redis_cluster.masters if m is not node)
            elsewhere = other.client()
            with pytest.raises(redis.exceptions.MovedError):
                elsewhere.get(key)
            elsewhere.close()
    finally:
        client.delete(*placed)
        client.close()


def test_a_lua_script_touching_a_key_of_another_slot_is_refused_on_one_node_holding_every_slot(
    one_node: LocalCluster,
) -> None:
    node = one_node.masters[0]
    assert cluster_info(node)["cluster_slots_assigned"] == str(SLOTS)
    client = node.client()
    try:
        with pytest.raises(redis.ResponseError, match="do not hash to the same slot"):
            client.eval(WRITES_TWO_KEYS, 1, "{a}x", "{b}y")
        assert client.exists("{b}y") == 0
        # the same script within one hash tag runs, the built key included
        assert client.eval(WRITES_TWO_KEYS, 1, "{a}x", "{a}y") == "OK"
        assert client.mget("{a}x", "{a}y") == ["declared", "built in the script"]
        # without the shebang Redis lets it through: the #!lua flags are the guard
        legacy = WRITES_TWO_KEYS.removeprefix("#!lua\n")
        assert client.eval(legacy, 1, "{a}x", "{b}y") == "OK"
    finally:
        client.delete("{a}x")
        client.delete("{a}y")
        client.delete("{b}y")
        client.close()


def test_a_killed_master_is_replaced_by_its_replica_and_the_client_follows() -> None:
    with redis_cluster() as cluster:
        client = cluster.client()
        victim = cluster.masters[0]  # also the client's seed
        key = next(
            k
            for k in (f"failover:{{{n}}}" for n in range(1000))
            if cluster.master_of_slot(client.keyslot(k)) is victim
        )
        client.set(key, "before")
        cluster.wait_replicated()  # asynchronous replication: a write not yet sent is lost

        promoted = cluster.fail_over(victim)

        assert not victim.running()
        assert promoted is cluster.replicas[0]
        assert cluster.master_of_slot(client.keyslot(key)) is promoted
        assert client.get(key) == "before"
        client.set(key, "after")
        direct = promoted.client()
        assert direct.get(key) == "after"
        direct.close()
        client.close()


def test_a_node_that_cannot_start_fails_with_its_log_in_the_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        node = Node(tmp_path / "node", port, port)
        node.spawn()
        try:
            with pytest.raises(ClusterError, match=f"port {port} exited") as failure:
                node.wait_answering()
        finally:
            node.stop()
    assert "Address already in use" in str(failure.value)
