"""The pure parts of ``bench.hosts``: rate per added host, CPU share maths, the network plan."""

from __future__ import annotations

import math
import os
import time
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from bench.cluster import steady_rate
from bench.common import Config, Section
from bench.hosts import (
    Network,
    Sampler,
    Step,
    add_rows,
    at,
    busy_share,
    cpu_share,
    interrupt_ticks,
    limit_of,
    machine_ticks,
    other_share,
    per_added_host,
    pick_subnet,
    process_ticks,
    redis_us_per_job,
    steady_window,
    step_order,
    tree_ticks,
    verdict_note,
)
from bench.throughput import Outcome

#: ``ip link`` names are at most IFNAMSIZ - 1 bytes.
IFNAME_MAX = 15


def test_per_added_host_is_the_gain_over_one_host_shared_by_the_added_hosts() -> None:
    assert per_added_host({1: 1_000.0, 2: 1_600.0, 4: 2_200.0}) == {2: 600.0, 4: 400.0}
    assert per_added_host({1: 1_000.0, 4: 700.0}) == {4: -100.0}  # overhead: negative
    assert per_added_host({2: 1_600.0}) == {}  # no one-host figure to compare with


def test_process_ticks_reads_utime_plus_stime_after_a_command_name_with_spaces() -> None:
    # fields 3-13, then utime (14) = 700 and stime (15) = 42
    stat = "4242 (redis-server (a) b) S 1 4242 4242 0 -1 4194560 150 0 0 0 700 42 0 0 20 0 5"
    assert process_ticks(stat) == 742


def test_tree_ticks_sum_the_processes_and_skip_the_gone() -> None:
    own = process_ticks(Path("/proc/self/stat").read_text())
    assert tree_ticks([os.getpid(), 2**22 + 1]) >= own  # no such pid: counts nothing
    assert tree_ticks([]) == 0


def test_process_ticks_of_this_process_match_its_own_cpu_times() -> None:
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # burn some CPU so the figure is not 0
        pass
    tick = os.sysconf("SC_CLK_TCK")
    ticks = process_ticks(Path("/proc/self/stat").read_text())
    times = os.times()
    assert ticks > 0
    assert abs(ticks / tick - (times.user + times.system)) <= 0.05


def test_sampler_accounts_for_the_cpu_a_process_spent_in_a_window() -> None:
    with Sampler({"me": [os.getpid()], "gone": [2**22 + 1]}) as sampler:
        before, start = os.times(), time.time()
        deadline = time.process_time() + 0.4
        while time.process_time() < deadline:
            pass
        after, end = os.times(), time.time()
    spent = (after.user + after.system) - (before.user + before.system)
    assert sampler.share("me", start, end) * (end - start) == pytest.approx(spent, abs=0.06)
    assert sampler.share("gone", start, end) == 0.0
    assert len(sampler.busy) >= 3 and sampler.busy[-1][1] >= sampler.busy[0][1]


def test_machine_ticks_counts_idle_and_iowait_as_not_busy() -> None:
    line = "cpu  100 5 20 300 50 1 2 3 7 0\ncpu0 1 2 3 4 5 6 7 8\n"
    busy, total = machine_ticks(line)
    assert total == 100 + 5 + 20 + 300 + 50 + 1 + 2 + 3  # guest time is inside user already
    assert busy == total - 300 - 50
    assert interrupt_ticks(line) == 1 + 2
    busy, total = machine_ticks(Path("/proc/stat").read_text())
    assert 0 <= interrupt_ticks(Path("/proc/stat").read_text()) <= busy
    assert 0 <= busy <= total


def test_at_interpolates_between_samples_and_clamps_at_the_ends() -> None:
    samples = [(10.0, 0.0), (11.0, 100.0), (12.0, 150.0)]
    assert at(samples, 10.5) == 50.0
    assert at(samples, 11.5) == 125.0
    assert at(samples, 9.0) == 0.0
    assert at(samples, 13.0) == 150.0
    with pytest.raises(ValueError):
        at([], 1.0)


def test_cpu_share_is_cpu_seconds_per_second_over_the_window() -> None:
    samples = [(10.0, 0.0), (11.0, 100.0), (12.0, 150.0)]
    assert cpu_share(samples, 10.5, 11.5, ticks_per_s=100) == pytest.approx(0.75)
    assert cpu_share(samples, 10.0, 11.0, ticks_per_s=100) == pytest.approx(1.0)  # a full core
    assert math.isnan(cpu_share(samples, 11.0, 11.0, ticks_per_s=100))  # empty window
    assert math.isnan(cpu_share([], 10.0, 11.0, ticks_per_s=100))


def test_busy_share_is_busy_over_total_ticks_of_the_window() -> None:
    busy = [(0.0, 0.0), (1.0, 150.0), (2.0, 160.0)]
    total = [(0.0, 0.0), (1.0, 200.0), (2.0, 400.0)]
    assert busy_share(busy, total, 0.0, 1.0) == pytest.approx(0.75)
    assert busy_share(busy, total, 1.0, 2.0) == pytest.approx(0.05)
    assert busy_share(busy, total, 0.0, 2.0) == pytest.approx(0.4)


def test_steady_window_matches_the_cluster_benchmarks_rate_and_names_its_ends() -> None:
    times = [100.0 + i * 0.01 for i in range(1_000)]  # 100 callbacks/s
    window = steady_window(list(reversed(times)), 1_000)
    assert window is not None
    start, end, rate = window
    assert (start, end) == (times[100], times[899])
    assert rate == pytest.approx(100.0)
    assert rate == pytest.approx(steady_rate(times, 1_000))
    assert steady_window(times[:500], 1_000) is None  # too few arrived


def test_redis_cost_per_job_and_where_its_one_core_fills() -> None:
    assert redis_us_per_job(0.4, 8_000.0) == pytest.approx(50.0)  # 1e6 / 50 = 20,000 jobs/s
    assert math.isnan(redis_us_per_job(0.4, 0.0))


def test_other_share_is_what_the_machine_spent_beside_the_benchs_processes() -> None:
    # 2 cores 90 % busy = 1.8 cores, 1.6 of them ours: 0.2 cores = 10 % of the machine
    assert other_share(0.9, 1.6, cores=2) == pytest.approx(0.1)
    assert other_share(0.5, 1.0, cores=2) == pytest.approx(0.0)
    assert other_share(0.9, 1.6, cores=2, interrupts=0.04) == pytest.approx(0.06)


def test_steps_alternate_their_order() -> None:
    assert [k for _, k in step_order((1, 2, 4), 3)] == [1, 2, 4, 4, 2, 1, 1, 2, 4]
    assert [rep for rep, _ in step_order((1, 2, 4), 2)] == [0, 0, 0, 1, 1, 1]


def plan(run_id: str = "a1b2c3", hosts: int = 4) -> Network:
    return Network(run_id, hosts, IPv4Network("10.77.3.0/24"))


def test_network_names_fit_the_kernel_and_carry_the_run_id() -> None:
    net = plan()
    links = [net.bridge] + [net.veth(i) for i in range(4)] + [net.peer(i) for i in range(4)]
    namespaces = [net.namespace(i) for i in range(4)]
    assert all(len(name.encode()) <= IFNAME_MAX for name in links)
    assert len(set(links + namespaces)) == len(links) + len(namespaces)
    assert all(net.owns(name) for name in links + namespaces)
    other = plan("d4e5f6")
    theirs = {
        other.bridge,
        *(other.veth(i) for i in range(4)),
        *(other.namespace(i) for i in range(4)),
    }
    assert theirs.isdisjoint(links + namespaces)
    assert not net.owns(other.bridge) and not net.owns("eth0")
    assert net.owns(f"{net.veth(0)}@if9")  # as `ip -o link` shows a veth


def test_network_addresses_are_distinct_hosts_of_the_subnet() -> None:
    net = plan()
    addresses = [net.gateway] + [net.address(i) for i in range(4)]
    assert len(set(addresses)) == 5
    assert all(
        a in net.subnet and a not in (net.subnet.network_address, net.subnet.broadcast_address)
        for a in addresses
    )
    assert str(net.gateway) == "10.77.3.1"


def created(commands: list[list[str]]) -> tuple[set[str], set[str]]:
    """(links, namespaces) that ``ip`` argv create (veth pairs: both ends)."""
    links, namespaces = set(), set()
    for argv in commands:
        if argv[:3] == ["ip", "link", "add"]:
            links.add(argv[3])
            if "peer" in argv:
                links.add(argv[argv.index("name") + 1])
        if argv[:3] == ["ip", "netns", "add"]:
            namespaces.add(argv[3])
    return links, namespaces


def test_cleanup_plan_removes_everything_the_setup_creates_bridge_last() -> None:
    net = plan()
    setup, cleanup = net.setup_commands(), net.cleanup_commands()
    links, namespaces = created(setup)
    assert namespaces == {net.namespace(i) for i in range(4)}
    deleted_links = {argv[3] for argv in cleanup if argv[:3] == ["ip", "link", "del"]}
    deleted_namespaces = {argv[3] for argv in cleanup if argv[:3] == ["ip", "netns", "del"]}
    assert deleted_namespaces == namespaces
    # a veth pair goes with either end; the peers also go with their namespace
    assert deleted_links == {net.bridge} | {net.veth(i) for i in range(4)}
    assert links - deleted_links == {net.peer(i) for i in range(4)}
    assert cleanup[-1] == ["ip", "link", "del", net.bridge]
    assert setup[0] == ["ip", "link", "add", net.bridge, "type", "bridge"]
    for i in range(4):  # each host's default route is the bridge
        route = ["ip", "netns", "exec", net.namespace(i), "ip", "route", "add", "default"]
        assert [*route, "via", "10.77.3.1"] in setup


def test_pick_subnet_skips_every_network_in_use() -> None:
    assert pick_subnet([]) == IPv4Network("10.77.0.0/24")
    used = [IPv4Network("10.77.0.0/24"), IPv4Network("10.77.1.7/32"), IPv4Network("127.0.0.0/8")]
    assert pick_subnet(used) == IPv4Network("10.77.2.0/24")
    with pytest.raises(RuntimeError, match="in use"):
        pick_subnet([IPv4Network("10.0.0.0/8")])


def test_limit_of_names_redis_then_the_workers_the_receiver_and_the_cpus() -> None:
    assert limit_of(0.95, 0.99, 0.99, 1.0) == "Redis"
    assert limit_of(0.3, 0.85, 0.99, 1.0) == "the workers"
    assert limit_of(0.3, 0.5, 0.85, 1.0) == "the receiver"
    assert limit_of(0.3, 0.5, 0.5, 0.99) == "the CPUs"
    assert limit_of(0.3, 0.5, 0.5, 0.5) == "neither"
    assert limit_of(math.nan, math.nan, math.nan, math.nan) == "neither"


def test_verdict_says_no_real_scaling_when_the_hosts_share_the_cores() -> None:
    figures = ([1_000.0], [0.3], [0.99], [0.5], [0.5], [0.1], [1.9], [0.01])
    steps = {k: Step(k, *figures) for k in (1, 2, 4)}
    cfg = Config(workdir=Path("."), hosts_processes=1)
    shared = verdict_note(steps, cfg, cores=2)
    assert "not real scaling" in shared and "2 CPU core(s)" in shared
    assert "4 host(s): the CPUs" in shared
    assert "not real scaling" not in verdict_note(steps, cfg, cores=16)


def test_rows_show_each_host_count_and_survive_a_repetition_too_short_to_measure() -> None:
    ok, nan = Outcome(expected=100, delivered=100), math.nan
    steps = {
        k: Step(k, rates, redis_cpu=r, machine_cpu=m, worker_cpu=w, receiver_cpu=rc, ours_cpu=o)
        for k, rates, r, m, w, rc, o in [
            (1, [1_000.0, 1_200.0], [0.2, 0.3], [0.9, 0.95], [0.95, 0.97], [0.3, 0.3], [1.4, 1.5]),
            (2, [1_600.0, 0.0], [0.4, nan], [1.0, nan], [0.5, nan], [0.5, nan], [1.9, nan]),
            (4, [2_000.0, 2_200.0], [0.5, 0.5], [1.0, 1.0], [0.6, 0.7], [0.85, 0.9], [2.0, 2.0]),
        ]
    }
    for step in steps.values():
        step.scheduler_cpu = [0.1] * len(step.rates)
        step.interrupt_cpu = [0.0] * len(step.rates)
    outcomes = {1: [ok, ok], 2: [ok, Outcome(100, 40)], 4: [ok, ok]}
    for k, step in steps.items():
        step.outcomes = outcomes[k]
    section = Section("hosts", "Hosts")
    add_rows(section, steps, Config(workdir=Path("."), hosts_n=100, hosts_repeats=2), cores=2)
    cells = {row.metric.strip(): row.ours for row in section.rows}
    added = [row.ours for row in section.rows if "per added host" in row.metric]
    assert added == ["-300", "333"]  # medians 1,100 / 800 / 2,100 jobs/s
    two = next(ours for metric, ours in cells.items() if metric.startswith("2 host(s)"))
    assert two == "800 (0-1,600)"
    delivered = section.rows[-1]
    assert delivered.ours.startswith("540/600") and delivered.verdict == "FAIL"
    held = "1 host(s): the workers, 2 host(s): the CPUs, 4 host(s): the receiver"
    assert held in section.notes[-1]
    # other work: 1 host 0.9 - 1.4 / 2 = 20 % and 0.95 - 1.5 / 2 = 20 %, over the warning's
    # 15 %; 2 hosts 1.0 - 1.9 / 2 = 5 %; 4 hosts 0 %
    elsewhere = [row.ours for row in section.rows if "other work than" in row.metric]
    assert elsewhere == ["20% (20%-20%)", "5% (5%-5%)", "0% (0%-0%)"]
    assert "other work held a large share of the machine during 1 host(s) 20% " in section.notes[-1]
    assert "2 host(s) 5%" not in section.notes[-1]
