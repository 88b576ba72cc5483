"""Benchmark ``hosts``: jobs/s with ``qs worker`` on 1, 2 and 4 "hosts" against one Redis.

Issue 11's per-host figure. Each host is a network namespace (``ip netns``) with a veth pair to
a bridge in the root namespace and its own address on a /24 of ``10.77.0.0/16``; Debian's
``/usr/bin/redis-server`` (no persistence) and the receiver listen on the bridge's address, and
one ``qs scheduler`` runs in the root namespace. Every host runs the same
``qs worker -p P -t T``, so 4 hosts are 4 x P worker processes.

One step: flush Redis, pause ``sms``, queue N SMS over ``WORKSPACES`` workspaces (limits lifted
with ``QUEUE_LIMITS``), start the workers on k hosts and the scheduler, wait until every worker
process beats, then resume ``sms`` and wait for N callbacks. Pausing keeps the hosts' staggered
boots out of the figure. The rate is ``bench.cluster``'s steady one (the 10 % to the 90 %
callback). CPU is sampled every 50 ms through the drain and taken over that same window:
Redis, each worker process, the receiver and the scheduler from ``/proc/<pid>/stat``
(utime + stime, as a share of one core), the machine from ``/proc/stat`` (busy, and irq +
softirq, as a share of all cores), and what is left once the bench's own processes and the
interrupts are taken out: other work on the machine, which skews the figure. Redis CPU per job
gives the rate at which its one thread would fill (an extrapolation). Steps run in alternating
order (1, 2, 4, then 4, 2, 1, ...) so drift from other load hits every k alike; each k shows
the median and range of its repetitions, and jobs/s per added host = (rate_k - rate_1) / (k - 1)
on the medians. ``-p 1`` by default, so one host is one worker process (one interpreter lock).

On a machine with fewer cores than hosts x P every host shares the same cores: the figure then
shows per-host overhead and whether Redis is the limit, not scaling; the verdict says so and
names what held each step (Redis, the workers, the receiver, the CPUs).
Needs root (CAP_NET_ADMIN) for ``ip netns``; without it the section is skipped with a note.
Everything it creates carries a run id (``qsb<run>...``) and is removed on exit, also on
failure and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import redis

from bench.cluster import TRIM, spread
from bench.common import (
    SEED_SMS,
    Children,
    Config,
    Receiver,
    Section,
    num,
    process_tree,
    qs,
    say,
    service_env,
    system_redis,
    use_redis,
    wait_until,
)
from bench.throughput import Outcome
from bench.throughput import _measure as drain
from shared.jobs.store import JobStore, NewJob

NAME = "hosts"
#: Hosts (network namespaces) of each step.
HOST_COUNTS = (1, 2, 4)
#: The jobs of a step are spread round-robin over this many workspaces.
WORKSPACES = 4
#: The network the bench's /24 is picked from (the first /24 no local address or route uses).
SUPERNET = IPv4Network("10.77.0.0/16")
#: ``QUEUE_LIMITS``: no SMS rate or concurrency limit (as in ``bench.cluster``).
UNLIMITED = json.dumps({"sms": {"limiter": None, "concurrency": None}})
#: Jobs per ``create_many`` call.
BATCH = 1_000
#: Seconds between two CPU samples during a drain.
SAMPLE_EVERY_S = 0.05
#: Seconds to wait for every worker process of a step to beat.
READY_TIMEOUT_S = 90.0
#: The verdict warns when more than this share of all cores went to other work than the
#: bench's own processes.
OTHER_WORK_WARNING = 0.15
#: Redis is "the limit" from this share of one core (it runs commands on one thread).
REDIS_SATURATED = 0.9
#: A worker process or the receiver is "the limit" from this share of one core (Python threads
#: share one interpreter lock, and its hand-offs and system calls leave a process held by it
#: some 10-15 % short of a full core).
PROCESS_SATURATED = 0.8
#: The machine's CPUs are "the limit" from this share of all cores.
MACHINE_SATURATED = 0.9


# --- the network ----------------------------------------------------------------------------


def new_run_id() -> str:
    """6 hex digits naming everything one run creates."""
    return secrets.token_hex(3)


@dataclass(frozen=True)
class Network:
    """The namespaces, links and addresses of one run: ``hosts`` namespaces, each with a veth
    pair whose outer end is on the bridge; the bridge holds the subnet's first address."""

    run_id: str
    hosts: int
    subnet: IPv4Network

    @property
    def prefix(self) -> str:
        """Start of every name this run gives (``ip link`` names are at most 15 bytes)."""
        return f"qsb{self.run_id}"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    @property
    def gateway(self) -> IPv4Address:
        """The bridge's address: Redis, the receiver and the scheduler are reached there."""
        return self.subnet.network_address + 1

    def namespace(self, i: int) -> str:
        return f"{self.prefix}-h{i}"

    def veth(self, i: int) -> str:
        """The root-namespace end of host ``i``'s pair (enslaved to the bridge)."""
        return f"{self.prefix}v{i}"

    def peer(self, i: int) -> str:
        """The end moved into host ``i``'s namespace."""
        return f"{self.prefix}p{i}"

    def address(self, i: int) -> IPv4Address:
        """Host ``i``'s address (``i`` from 0)."""
        return self.subnet.network_address + 2 + i

    def setup_commands(self) -> list[list[str]]:
        """``ip`` argv, in order, that build the network."""
        cidr = f"/{self.subnet.prefixlen}"
        commands = [
            ["ip", "link", "add", self.bridge, "type", "bridge"],
            ["ip", "addr", "add", f"{self.gateway}{cidr}", "dev", self.bridge],
            ["ip", "link", "set", self.bridge, "up"],
        ]
        for i in range(self.hosts):
            ns, inner = self.namespace(i), ["ip", "netns", "exec", self.namespace(i)]
            commands += [
                ["ip", "netns", "add", ns],
                ["ip", "link", "add", self.veth(i), "type", "veth", "peer", "name", self.peer(i)],
                ["ip", "link", "set", self.peer(i), "netns", ns],
                ["ip", "link", "set", self.veth(i), "master", self.bridge],
                ["ip", "link", "set", self.veth(i), "up"],
                [*inner, "ip", "addr", "add", f"{self.address(i)}{cidr}", "dev", self.peer(i)],
                [*inner, "ip", "link", "set", self.peer(i), "up"],
                [*inner, "ip", "link", "set", "lo", "up"],
                [*inner, "ip", "route", "add", "default", "via", str(self.gateway)],
            ]
        return commands

    def cleanup_commands(self) -> list[list[str]]:
        """``ip`` argv that remove everything ``setup_commands`` may have built, newest first;
        each may fail (not built yet, already gone) and the rest still run."""
        commands: list[list[str]] = []
        for i in reversed(range(self.hosts)):
            commands += [
                ["ip", "link", "del", self.veth(i)],  # takes its peer with it
                ["ip", "netns", "del", self.namespace(i)],
            ]
        return [*commands, ["ip", "link", "del", self.bridge]]

    def owns(self, name: str) -> bool:
        """Whether a namespace or link name is this run's."""
        return name.split("@", 1)[0].startswith(self.prefix)


def pick_subnet(used: Sequence[IPv4Network], supernet: IPv4Network = SUPERNET) -> IPv4Network:
    """The first /24 of ``supernet`` that overlaps none of ``used`` (local addresses, routes)."""
    for candidate in supernet.subnets(new_prefix=24):
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise RuntimeError(f"every /24 of {supernet} is in use on this machine")


def used_networks() -> list[IPv4Network]:
    """The IPv4 networks of this namespace's addresses and routes."""
    found: list[IPv4Network] = []
    addrs = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True)
    for line in addrs.stdout.splitlines():
        words = line.split()
        if "inet" in words:
            found.append(IPv4Interface(words[words.index("inet") + 1]).network)
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True)
    for line in routes.stdout.splitlines():
        first = line.split()[0] if line.split() else "default"
        if first != "default":
            with contextlib.suppress(ValueError):
                found.append(IPv4Network(first, strict=False))
    return found


def netns_refusal() -> str | None:
    """Why ``ip netns`` cannot be used here (None: it can): no ``ip``, not root, or the kernel
    refused a probe namespace (no CAP_NET_ADMIN in a container)."""
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed"
    if os.geteuid() != 0:
        return "not root: `ip netns` needs CAP_NET_ADMIN"
    probe = f"qsb{new_run_id()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` refused: {made.stderr.strip() or made.returncode}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def leftovers(net: Network) -> list[str]:
    """This run's namespaces and links still present."""
    names = _ip(["ip", "netns", "list"]).stdout.split()
    names += [
        line.split(":")[1].strip()
        for line in _ip(["ip", "-o", "link", "show"]).stdout.splitlines()
        if line.count(":") >= 2
    ]
    return sorted({n.split("@", 1)[0] for n in names if net.owns(n)})


def kill_namespace_processes(net: Network) -> None:
    """SIGKILL whatever still runs in this run's namespaces (only processes it started)."""
    for i in range(net.hosts):
        pids = _ip(["ip", "netns", "pids", net.namespace(i)]).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)


@contextlib.contextmanager
def network(net: Network, notes: list[str]) -> Iterator[Network]:
    """Build ``net``; on exit (error, Ctrl-C or not) remove it and note anything left."""
    try:
        for argv in net.setup_commands():
            done = _ip(argv)
            if done.returncode != 0:
                raise RuntimeError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
        yield net
    finally:
        kill_namespace_processes(net)
        for argv in net.cleanup_commands():
            _ip(argv)
        left = leftovers(net)
        if left:
            notes.append(f"could not remove: {', '.join(left)} (remove by hand: `ip link del`)")


# --- CPU accounting -------------------------------------------------------------------------


def process_ticks(stat: str) -> int:
    """utime + stime, in clock ticks, from the text of ``/proc/<pid>/stat`` (the command name,
    field 2, may hold spaces and parentheses, so fields are counted after its last ``)``)."""
    after = stat.rsplit(")", 1)[1].split()
    return int(after[11]) + int(after[12])  # fields 14 and 15 of proc(5)


def machine_ticks(stat: str) -> tuple[int, int]:
    """(busy, total) clock ticks of all cores, from the text of ``/proc/stat``."""
    fields = [int(v) for v in stat.split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def at(samples: Sequence[tuple[float, float]], t: float) -> float:
    """The sampled counter at time ``t``, interpolated linearly (clamped at the ends)."""
    if not samples:
        raise ValueError("no samples")
    if t <= samples[0][0]:
        return samples[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(samples):
        if t <= t1:
            return v0 + (v1 - v0) * ((t - t0) / (t1 - t0) if t1 > t0 else 1.0)
    return samples[-1][1]


def cpu_share(
    samples: Sequence[tuple[float, float]], start: float, end: float, ticks_per_s: float
) -> float:
    """CPU seconds per second between ``start`` and ``end`` (unix s) from (time, ticks) samples:
    1.0 is one core busy throughout. NaN when the window is empty."""
    if end <= start or not samples:
        return math.nan
    return (at(samples, end) - at(samples, start)) / ticks_per_s / (end - start)


def interrupt_ticks(stat: str) -> int:
    """irq + softirq clock ticks of all cores, from the text of ``/proc/stat``: kernel work
    outside any process's utime/stime, such as receiving the veth and bridge traffic."""
    fields = [int(v) for v in stat.split("\n", 1)[0].split()[1:]]
    return sum(fields[5:7])


def busy_share(
    busy: Sequence[tuple[float, float]],
    total: Sequence[tuple[float, float]],
    start: float,
    end: float,
) -> float:
    """Share of all cores busy between ``start`` and ``end`` (0-1), from ``/proc/stat`` samples."""
    spent = at(total, end) - at(total, start)
    return (at(busy, end) - at(busy, start)) / spent if spent > 0 else math.nan


def tree_ticks(pids: Sequence[int]) -> int:
    """utime + stime of ``pids`` (processes gone since count nothing more)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += process_ticks(Path(f"/proc/{pid}/stat").read_text())
    return total


class Sampler:
    """Samples the CPU ticks of named groups of processes (``groups``: name -> pids) and of the
    machine every ``SAMPLE_EVERY_S`` on a thread; ``series[name]`` holds (unix s, ticks)."""

    def __init__(self, groups: dict[str, Sequence[int]]) -> None:
        self.groups = {name: list(pids) for name, pids in groups.items()}
        self.series: dict[str, list[tuple[float, float]]] = {name: [] for name in groups}
        self.busy: list[tuple[float, float]] = []
        self.total: list[tuple[float, float]] = []
        self.interrupts: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _sample(self) -> None:
        now = time.time()
        for name, pids in self.groups.items():
            self.series[name].append((now, tree_ticks(pids)))
        stat = Path("/proc/stat").read_text()
        busy, total = machine_ticks(stat)
        self.busy.append((now, busy))
        self.total.append((now, total))
        self.interrupts.append((now, interrupt_ticks(stat)))

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample()

    def __enter__(self) -> Sampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sample()

    def share(self, name: str, start: float, end: float) -> float:
        """``cpu_share`` of group ``name`` between ``start`` and ``end``, in cores."""
        return cpu_share(self.series[name], start, end, float(os.sysconf("SC_CLK_TCK")))


# --- the figures ----------------------------------------------------------------------------


def steady_window(times: Sequence[float], expected: int) -> tuple[float, float, float] | None:
    """(start, end, jobs/s) between the ``TRIM``-th and the ``(1 - TRIM)``-th share of
    ``expected`` arrivals, as ``bench.cluster.steady_rate``; None when too few arrived."""
    ordered = sorted(times)
    first, last = int(expected * TRIM), int(expected * (1 - TRIM)) - 1
    if last >= len(ordered) or last <= first or ordered[last] <= ordered[first]:
        return None
    start, end = ordered[first], ordered[last]
    return start, end, (last - first) / (end - start)


def per_added_host(rates: dict[int, float]) -> dict[int, float]:
    """Jobs/s each host beyond the first added: ``(rate_k - rate_1) / (k - 1)`` for k > 1."""
    if 1 not in rates:
        return {}
    return {k: (rate - rates[1]) / (k - 1) for k, rate in sorted(rates.items()) if k > 1}


def redis_us_per_job(redis_share: float, rate: float) -> float:
    """Redis CPU per delivered job, in microseconds, from its share of one core at ``rate``
    jobs/s; its one thread fills at ``1e6 / that`` jobs/s if the cost per job stays put."""
    return redis_share / rate * 1e6 if rate > 0 else math.nan


def other_share(machine_busy: float, ours: float, cores: int, interrupts: float = 0.0) -> float:
    """Share of all ``cores`` busy with other work than the bench's own processes, which used
    ``ours`` cores (Redis, workers, scheduler, receiver and the bench process itself), and than
    the kernel's ``interrupts`` (a share of all cores, not charged to any process)."""
    return machine_busy - ours / cores - interrupts


def step_order(counts: Sequence[int], repeats: int) -> list[tuple[int, int]]:
    """(repetition, hosts) in run order: forwards, backwards, forwards, ..."""
    order: list[tuple[int, int]] = []
    for rep in range(repeats):
        order += [(rep, k) for k in (counts if rep % 2 == 0 else list(reversed(counts)))]
    return order


def limit_of(
    redis_share: float, worker_share: float, receiver_share: float, machine_busy: float
) -> str:
    """What held the rate: "Redis" (its one thread saturated), "the workers" (each worker
    process, one interpreter lock, near a full core), "the receiver" (one process, near a
    core), "the CPUs" (every core busy) or "neither" (something else: latency, the
    scheduler)."""
    if redis_share >= REDIS_SATURATED:
        return "Redis"
    if worker_share >= PROCESS_SATURATED:
        return "the workers"
    if receiver_share >= PROCESS_SATURATED:
        return "the receiver"
    if machine_busy >= MACHINE_SATURATED:
        return "the CPUs"
    return "neither"


@dataclass
class Step:
    """The outcomes of one host count over its repetitions."""

    hosts: int
    rates: list[float] = field(default_factory=list)  #: steady jobs/s
    redis_cpu: list[float] = field(default_factory=list)  #: share of one core, same window
    machine_cpu: list[float] = field(default_factory=list)  #: share of all cores, same window
    #: CPU of the worker processes (each host's whole ``qs worker`` tree) per worker process,
    #: as a share of one core, same window
    worker_cpu: list[float] = field(default_factory=list)
    receiver_cpu: list[float] = field(default_factory=list)  #: share of one core, same window
    scheduler_cpu: list[float] = field(default_factory=list)  #: share of one core, same window
    #: cores used by all the bench's processes (the above and the bench itself), same window
    ours_cpu: list[float] = field(default_factory=list)
    #: irq + softirq time (the veth/bridge traffic among it), share of all cores, same window
    interrupt_cpu: list[float] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


def finite(values: Sequence[float]) -> list[float]:
    """``values`` without NaN (a repetition too short to measure)."""
    return [v for v in values if not math.isnan(v)]


def median(values: Sequence[float]) -> float:
    """The median of the finite ``values``; NaN when there is none."""
    values = finite(values)
    return statistics.median(values) if values else math.nan


def pct_spread(values: Sequence[float]) -> str:
    """``median (min-max)`` of shares, in %."""
    values = finite(values)
    if not values:
        return "n/a"
    return f"{median(values):.0%} ({min(values):.0%}-{max(values):.0%})"


# --- one step -------------------------------------------------------------------------------


def new_job(i: int) -> NewJob:
    """The ``i``-th seed SMS, due now, in workspace ``i % WORKSPACES``."""
    workspace = f"workspace-bench-{i % WORKSPACES}"
    contact = f"contact-{i}"
    data = {**SEED_SMS, "contactId": contact, "workspaceId": workspace, "delay": 0}
    return NewJob(
        queue="sms",
        actor="sms",
        data=data,
        due_ms=0,
        max_attempts=5,
        workspace_id=workspace,
        contact_id=contact,
    )


def queue_jobs(store: JobStore, n: int) -> float:
    """Create ``n`` SMS jobs in batches; seconds taken."""
    started = time.perf_counter()
    for first in range(0, n, BATCH):
        store.create_many([new_job(i) for i in range(first, min(n, first + BATCH))])
    return time.perf_counter() - started


@dataclass
class Bench:
    """What every step shares: the network, Redis (URL, pid, client), receiver and env."""

    cfg: Config
    net: Network
    redis_url: str
    redis_pid: int
    client: redis.Redis
    receiver: Receiver
    env: dict[str, str]
    notes: list[str]


def one_step(bench: Bench, step: Step, rep: int) -> None:
    """Flush, queue N paused jobs, boot ``step.hosts`` hosts' workers and the scheduler, resume
    once every worker beats; record the steady rate and the CPU shares over its window."""
    from shared.jobs import liveness
    from shared.redis_client import get_redis

    cfg, k = bench.cfg, step.hosts
    label = f"{NAME}/{k}-host{'s' if k > 1 else ''}#{rep + 1}"
    bench.client.flushall()
    bench.receiver.reset(ids=True)
    use_redis(bench.redis_url, UNLIMITED)
    store = JobStore(get_redis())
    store.pause("sms")
    insert_s = queue_jobs(store, cfg.hosts_n)
    say(label, f"queued {cfg.hosts_n:,} jobs (paused) in {insert_s:.1f} s; booting {k} host(s)")
    processes = k * cfg.hosts_processes
    worker_args = ("-p", str(cfg.hosts_processes), "-t", str(cfg.hosts_threads))
    with Children(bench.cfg.workdir / NAME, bench.notes) as children:
        workers = [
            children.start(
                f"{k}h-{rep + 1}-worker-{i}",
                ["ip", "netns", "exec", bench.net.namespace(i), *qs("worker", *worker_args)],
                bench.env,
            )
            for i in range(k)
        ]
        scheduler = children.start(f"{k}h-{rep + 1}-scheduler", qs("scheduler"), bench.env)
        ready = wait_until(
            lambda: len(liveness.alive("worker")) >= processes and liveness.alive("scheduler"),
            timeout_s=READY_TIMEOUT_S,
            interval_s=0.2,
        )
        if not ready:
            raise RuntimeError(
                f"{k} host(s): {len(liveness.alive('worker'))}/{processes} worker processes "
                f"beat within {READY_TIMEOUT_S:.0f} s (logs in {bench.cfg.workdir / NAME})"
            )
        early = bench.receiver.count()  # none, unless pausing did not hold them back
        bench.receiver.reset(ids=True)
        groups: dict[str, Sequence[int]] = {
            "redis": [bench.redis_pid],
            "workers": [pid for w in workers for pid in process_tree(w.pid)],
            "receiver": [bench.receiver.child.pid],
            "scheduler": process_tree(scheduler.pid),
            "bench": [os.getpid()],
        }
        with Sampler(groups) as sampler:
            launched = time.time()
            store.resume("sms")
            outcome = drain(bench.receiver, cfg.hosts_n, launched, label)
        if early:
            bench.notes.append(f"{label}: {early:,} callbacks arrived while paused")
        if not all(w.alive() for w in workers):
            bench.notes.append(f"{label}: a worker exited during the run")
    if outcome.delivered != outcome.expected or outcome.duplicates:
        bench.notes.append(
            f"{label}: {outcome.delivered:,}/{outcome.expected:,} delivered, "
            f"{outcome.duplicates:,} duplicates"
        )
    window = steady_window(bench.receiver.records()[0], cfg.hosts_n)
    step.outcomes.append(outcome)
    if window is None:  # kept aligned: a 0 rate, no CPU figures
        step.rates.append(0.0)
        step.redis_cpu.append(math.nan)
        step.machine_cpu.append(math.nan)
        step.worker_cpu.append(math.nan)
        step.receiver_cpu.append(math.nan)
        step.scheduler_cpu.append(math.nan)
        step.ours_cpu.append(math.nan)
        step.interrupt_cpu.append(math.nan)
        say(label, "too few callbacks for a steady rate")
        return
    start, end, rate = window
    cores = len(os.sched_getaffinity(0))
    redis_cpu = sampler.share("redis", start, end)
    machine_cpu = busy_share(sampler.busy, sampler.total, start, end)
    interrupts = busy_share(sampler.interrupts, sampler.total, start, end)
    step.interrupt_cpu.append(interrupts)
    worker_cpu = sampler.share("workers", start, end) / processes
    receiver_cpu = sampler.share("receiver", start, end)
    step.scheduler_cpu.append(sampler.share("scheduler", start, end))
    step.ours_cpu.append(sum(sampler.share(name, start, end) for name in groups))
    step.rates.append(rate)
    step.redis_cpu.append(redis_cpu)
    step.machine_cpu.append(machine_cpu)
    step.worker_cpu.append(worker_cpu)
    step.receiver_cpu.append(receiver_cpu)
    say(
        label,
        f"{rate:,.0f} jobs/s steady; Redis {redis_cpu:.0%} of a core; each worker process "
        f"{worker_cpu:.0%}; receiver {receiver_cpu:.0%}; CPUs {machine_cpu:.0%} busy, "
        f"{interrupts:.0%} in interrupts, "
        f"{other_share(machine_cpu, step.ours_cpu[-1], cores, interrupts):.0%} with other work",
    )


# --- the section ----------------------------------------------------------------------------


def redis_pid(client: redis.Redis) -> int:
    return int(client.info("server")["process_id"])


def run(cfg: Config) -> Section:
    p, t, n, reps = cfg.hosts_processes, cfg.hosts_threads, cfg.hosts_n, cfg.hosts_repeats
    counts = ", ".join(map(str, HOST_COUNTS))
    section = Section(
        NAME,
        f"Hosts: {n:,} queued SMS over {WORKSPACES} workspaces, qs worker -p {p} -t {t} in "
        f"{counts} network namespaces against one Redis 7, + one qs scheduler, "
        f"{reps} repetitions each",
    )
    notes = section.notes
    refusal = netns_refusal()
    if refusal:
        notes.append(f"skipped: {refusal}; this figure needs root (CAP_NET_ADMIN)")
        return section
    cores = len(os.sched_getaffinity(0))
    logdir = cfg.workdir / NAME
    logdir.mkdir(parents=True, exist_ok=True)
    net = Network(new_run_id(), max(HOST_COUNTS), pick_subnet(used_networks()))
    steps = {k: Step(k) for k in HOST_COUNTS}
    with (
        network(net, notes),
        system_redis(cfg.workdir, NAME, host=str(net.gateway)) as url,
        Children(logdir, notes) as children,
    ):
        receiver = Receiver(children, host=str(net.gateway))
        client = redis.Redis.from_url(url)
        env = service_env(
            url,
            receiver.url,
            QUEUE_LIMITS=UNLIMITED,
            CALLBACK_ALLOWED_NETWORKS=str(net.subnet),  # private addresses are refused otherwise
        )
        bench = Bench(cfg, net, url, redis_pid(client), client, receiver, env, notes)
        notes.append(
            f"network {net.subnet}: bridge {net.bridge} at {net.gateway} (Redis, receiver, "
            f"scheduler); hosts {', '.join(str(net.address(i)) for i in range(net.hosts))}"
        )
        try:
            for rep, k in step_order(HOST_COUNTS, reps):
                one_step(bench, steps[k], rep)
        finally:
            client.close()
    add_rows(section, steps, cfg, cores)
    return section


def others(step: Step, cores: int) -> list[float]:
    """``other_share`` of each repetition of ``step``."""
    shares = zip(step.machine_cpu, step.ours_cpu, step.interrupt_cpu, strict=True)
    return [other_share(busy, ours, cores, irq) for busy, ours, irq in shares]


def add_rows(section: Section, steps: dict[int, Step], cfg: Config, cores: int) -> None:
    """The figure's rows and its verdict note."""
    n, reps = cfg.hosts_n, cfg.hosts_repeats
    rates = {k: median(s.rates) for k, s in steps.items() if s.rates}
    added = per_added_host(rates)
    for k, step in steps.items():
        procs = k * cfg.hosts_processes
        section.add(
            f"{k} host(s) ({procs} worker process(es)): jobs/s ({TRIM:.0%}-{1 - TRIM:.0%} of "
            "callbacks), median (min-max)",
            spread(step.rates),
        )
        section.add("  ... per repetition", " / ".join(map(num, step.rates)))
        section.add("  ... Redis CPU, share of one core, same window", pct_spread(step.redis_cpu))
        costs = finite(
            [redis_us_per_job(c, r) for c, r in zip(step.redis_cpu, step.rates, strict=True)]
        )
        if costs:
            section.add(
                "  ... Redis CPU per job, median (min-max); one core full at (extrapolated)",
                f"{median(costs):.0f} us ({min(costs):.0f}-{max(costs):.0f}); "
                f"{num(1e6 / median(costs))} jobs/s",
            )
        section.add(
            "  ... CPU of each worker process (its qs worker tree / processes), share of one core",
            pct_spread(step.worker_cpu),
        )
        section.add("  ... receiver CPU, share of one core", pct_spread(step.receiver_cpu))
        section.add("  ... scheduler CPU, share of one core", pct_spread(step.scheduler_cpu))
        section.add(
            f"  ... machine CPU busy ({cores} cores, other work included), same window",
            pct_spread(step.machine_cpu),
        )
        section.add(
            "  ... of which kernel interrupts (irq + softirq, the veth/bridge traffic among it)",
            pct_spread(step.interrupt_cpu),
        )
        section.add(
            "  ... of which other work than the bench's processes and interrupts",
            pct_spread(others(step, cores)),
        )
        if k in added:
            section.add("  ... jobs/s per added host, (rate_k - rate_1) / (k - 1)", num(added[k]))
    delivered = sum(o.delivered for s in steps.values() for o in s.outcomes)
    duplicates = sum(o.duplicates for s in steps.values() for o in s.outcomes)
    total = n * reps * len(steps)
    section.add(
        "delivered (distinct jobs, all steps)",
        f"{delivered:,}/{total:,}, {duplicates:,} duplicates",
        "",
        "all, none twice",
        "PASS" if delivered == total and duplicates == 0 else "FAIL",
    )
    section.notes.append(verdict_note(steps, cfg, cores))


def verdict_note(steps: dict[int, Step], cfg: Config, cores: int) -> str:
    """What the figure shows, honestly, given the cores the hosts share."""
    most = max(k for k in steps) * cfg.hosts_processes
    limits = ", ".join(
        f"{k} host(s): "
        + limit_of(
            median(s.redis_cpu),
            median(s.worker_cpu),
            median(s.receiver_cpu),
            median(s.machine_cpu),
        )
        for k, s in steps.items()
        if finite(s.redis_cpu)
    )
    shared = (
        f"verdict: this machine has {cores} CPU core(s) and the {most} worker processes of the "
        "largest step, Redis, the scheduler and the receiver all share them, so the figure "
        "shows per-host overhead and where Redis saturates, not real scaling over hosts"
        if cores < most + 2
        else f"verdict: {cores} cores for at most {most} worker processes"
    )
    busy_elsewhere = [
        f"{k} host(s) {median(others(s, cores)):.0%}"
        for k, s in steps.items()
        if median(others(s, cores)) > OTHER_WORK_WARNING
    ]
    if busy_elsewhere:
        shared += (
            "; other work held a large share of the machine during "
            f"{', '.join(busy_elsewhere)} (median share of all cores), so those figures are low"
        )
    return (
        f"{shared}; what held each step (Redis >= {REDIS_SATURATED:.0%} of a core, else the "
        f"workers >= {PROCESS_SATURATED:.0%} of a core each, else the receiver >= "
        f"{PROCESS_SATURATED:.0%} of a core, else the CPUs >= "
        f"{MACHINE_SATURATED:.0%} busy, else neither): {limits or 'n/a'}"
    )
