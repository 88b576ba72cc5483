"""``bench.peers.bullmq``: argv and environment, ratio maths, the skip reasons (no node, no npm,
a failing ``npm ci``), and the Node peer itself against the test Redis and a real receiver."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bench.common import SEED_SMS
from bench.peers import bullmq
from local.embedded_redis import EmbeddedRedis, free_port
from tests.conftest import on_cluster, wait_for
from tests.servers import Receiver, serve


def test_node_argv_runs_the_peer_script_with_its_mode_and_arguments() -> None:
    assert bullmq.node_argv("fill", 5_000, 0) == ["node", str(bullmq.SCRIPT), "fill", "5000", "0"]
    assert bullmq.node_argv("worker", node="/opt/node")[0] == "/opt/node"
    assert bullmq.SCRIPT.parent == bullmq.DIR and bullmq.SCRIPT.exists()
    with pytest.raises(ValueError, match="unknown peer mode"):
        bullmq.node_argv("drain")


def test_peer_env_points_the_peer_at_its_redis_receiver_and_port() -> None:
    env = bullmq.peer_env({"PATH": "/bin", "REDIS_URL": "redis://old"}, "redis://r:1/0", "http://h")
    assert env["REDIS_URL"] == "redis://r:1/0" and env["SMS_API_URL"] == "http://h"
    assert env["PEER_PREFIX"] == bullmq.PREFIX and env["PEER_CONCURRENCY"] == "50"
    assert env["PATH"] == "/bin" and "PORT" not in env
    assert bullmq.peer_env({}, "redis://r", "http://h", port=8123)["PORT"] == "8123"


def test_ratio_is_ours_over_theirs_or_theirs_over_ours_for_lower_is_better() -> None:
    assert bullmq.ratio(3_000.0, 1_500.0) == 2.0
    assert bullmq.ratio(100.0, 400.0, lower_is_better=True) == 4.0
    assert bullmq.ratio(None, 1.0) is None and bullmq.ratio(1.0, None) is None
    assert bullmq.ratio(1.0, 0.0) is None  # no peer figure to divide by
    assert bullmq.ratio_text(2.0) == "x2.00" and bullmq.ratio_text(None) == "n/a"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the peer's package files, with no install failure remembered."""
    monkeypatch.setattr(bullmq, "_install_failure", [])
    (tmp_path / "package-lock.json").write_text("{}")
    return tmp_path


def test_skips_with_a_reason_when_node_or_npm_is_missing(project: Path) -> None:
    no_node = bullmq.unavailable(lambda name: None, project)
    assert no_node is not None and no_node.startswith("node is not installed")
    no_npm = bullmq.unavailable(lambda name: None if name == "npm" else "/bin/node", project)
    assert no_npm is not None and no_npm.startswith("npm is not installed")


def test_needs_node_modules_newer_than_the_lock_file(project: Path) -> None:
    which = lambda name: f"/bin/{name}"  # noqa: E731
    assert "node_modules is missing" in str(bullmq.unavailable(which, project, install=False))
    marker = project / "node_modules" / ".package-lock.json"
    marker.parent.mkdir()
    marker.write_text("{}")
    assert bullmq.unavailable(which, project, install=False) is None
    stale = time.time() - 60
    os.utime(marker, (stale, stale))  # the lock file changed since the last `npm ci`
    assert bullmq.unavailable(which, project, install=False) is not None


def test_a_failing_npm_ci_is_a_note_not_an_error_and_is_not_retried(project: Path) -> None:
    npm = project / "npm"
    npm.write_text(
        f"#!/bin/sh\necho ran >> {project}/runs\necho 'npm ERR! network down' >&2\nexit 1\n"
    )
    npm.chmod(0o755)
    which = lambda name: str(npm) if name == "npm" else "/bin/node"  # noqa: E731
    reason = bullmq.unavailable(which, project)
    assert reason is not None and "`npm ci`" in reason and "npm ERR! network down" in reason
    assert bullmq.unavailable(which, project) == reason
    assert (project / "runs").read_text() == "ran\n"  # once per bench run


@pytest.fixture(scope="session")
def peer_installed() -> None:
    """The peer's packages, installed with `npm ci` when missing (as `make bench` does; `make
    test` installs Node.js and npm when missing): a clean clone runs these tests too."""
    reason = bullmq.unavailable()
    if reason is not None:
        pytest.fail(reason)


needs_peer = pytest.mark.usefixtures("peer_installed")


@pytest.fixture
def peer_env(
    redis_url: str, redis_prefix: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[dict[str, str]]:
    """The peer's environment on the test Redis; under ``--redis-cluster`` on an embedded
    Redis of its own (BullMQ's keys carry no hash tag: it runs on one Redis)."""
    if not on_cluster(request.config):
        env = bullmq.peer_env(dict(os.environ), redis_url, "http://127.0.0.1:9")
        env["PEER_PREFIX"] = redis_prefix  # the fixture deletes these keys after
        yield env
        return
    server = EmbeddedRedis(tmp_path / "peer-redis", persist=False).start()
    try:
        yield bullmq.peer_env(dict(os.environ), server.url, "http://127.0.0.1:9")
    finally:
        server.stop()


@pytest.fixture
def child() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def _post(port: int, body: object, key: str = "k1") -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        conn.request("POST", "/api/schedule-sms", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _answers(port: int) -> bool:
    try:
        _post(port, {})
    except OSError:
        return False
    return True


@needs_peer
def test_peer_api_schedules_the_seed_body_as_a_delayed_bullmq_job(
    peer_env: dict[str, str], child: list[subprocess.Popen[bytes]], redis_url: str
) -> None:
    port = free_port()
    env = {**peer_env, "PORT": str(port), "API_KEYS": "k1"}
    child.append(subprocess.Popen(bullmq.node_argv("api"), env=env, cwd=bullmq.DIR))
    wait_for(lambda: _answers(port), timeout_s=30, what="the peer API")
    status, reply = _post(port, {**SEED_SMS, "delay": 3_600_000})
    assert status == 202 and reply["success"] is True and reply["jobId"]
    client = redis.Redis.from_url(redis_url)
    assert client.zcard(f"{peer_env['PEER_PREFIX']}:sms:delayed") == 1
    assert _post(port, {**SEED_SMS, "delay": 1}, key="wrong")[0] == 401
    assert _post(port, {"message": "no phone"})[0] == 400
    assert client.zcard(f"{peer_env['PEER_PREFIX']}:sms:delayed") == 1
    client.close()


@needs_peer
def test_peer_worker_posts_each_filled_job_once_to_the_receiver(
    peer_env: dict[str, str], child: list[subprocess.Popen[bytes]]
) -> None:
    receiver = Receiver()
    with serve(receiver.app()) as url:
        env = {**peer_env, "SMS_API_URL": url}
        filled = bullmq.run_once(bullmq.node_argv("fill", 30, 0), env, Path(os.devnull), 60)
        assert filled["count"] == 30
        child.append(subprocess.Popen(bullmq.node_argv("worker"), env=env, cwd=bullmq.DIR))
        wait_for(lambda: len(receiver.to("/send-sms")) >= 30, timeout_s=30, what="30 callbacks")
        bodies = [call.json() for call in receiver.to("/send-sms")]
    assert len({body["jobId"] for body in bodies}) == 30
    assert {body["phoneNumber"] for body in bodies} == {SEED_SMS["phoneNumber"]}
    assert {body["contactId"] for body in bodies} == {f"contact-{i}" for i in range(30)}


@needs_peer
def test_peer_bulk_and_burst_add_every_job_with_the_asked_due_time(
    peer_env: dict[str, str], redis_url: str
) -> None:
    done = bullmq.run_once(
        bullmq.node_argv("bulk", 2, 3, 5, 3_600_000), peer_env, Path(os.devnull), 60
    )
    client = redis.Redis.from_url(redis_url)
    delayed = f"{peer_env['PEER_PREFIX']}:sms:delayed"
    assert done["count"] == 15 and client.zcard(delayed) == 15
    due_ms = int(time.time() * 1000) + 60_000
    bullmq.run_once(bullmq.node_argv("burst", 10, due_ms), peer_env, Path(os.devnull), 60)
    job = client.hgetall(f"{peer_env['PEER_PREFIX']}:sms:burst-7")
    assert int(job[b"timestamp"]) + int(job[b"delay"]) == due_ms  # one due time for all
    assert client.zcard(delayed) == 25
    again = bullmq.node_argv("burst", 10, due_ms + 1, "burst2-")  # a later burst, its own ids
    bullmq.run_once(again, peer_env, Path(os.devnull), 60)
    assert client.exists(f"{peer_env['PEER_PREFIX']}:sms:burst2-9")
    assert client.zcard(delayed) == 35
    client.close()


def test_sections_note_the_reason_and_add_no_peer_rows_when_the_peer_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import api, delayed, throughput
    from bench.common import Config, Section

    reason = "node is not installed: no same-run Fastify + BullMQ figures"
    monkeypatch.setattr(bullmq, "unavailable", lambda: reason)
    cfg = Config(workdir=tmp_path)
    notes: list[str] = []
    assert throughput.run_peer(cfg, tmp_path, notes) is None
    assert delayed.run_peer(cfg, tmp_path, notes) is None
    assert api.run_peer(cfg, tmp_path, tmp_path / "x.lua", notes) is None
    assert api.bulk_peer(cfg, tmp_path, notes) is None
    assert notes == [reason] * 3  # bulk runs after the API and adds no second copy
    section = Section("throughput", "t")
    throughput._peer_rows(section, [(throughput.Outcome(), None)], cfg)
    assert section.rows == [] and section.notes == []


def test_throughput_ratios_pair_each_run_and_judge_their_median(tmp_path: Path) -> None:
    from bench import throughput
    from bench.common import Config, Section

    def outcome(rate: float) -> throughput.Outcome:
        return throughput.Outcome(expected=10, delivered=10, rate=rate)

    pairs = [(outcome(6_000), outcome(3_000)), (outcome(5_000), outcome(3_000))]
    pairs.append((outcome(7_000), outcome(3_000)))
    section = Section("throughput", "t")
    throughput._peer_rows(section, pairs, Config(workdir=tmp_path))
    (ratio_row,) = [row for row in section.rows if row.metric.startswith("callbacks/s vs BullMQ")]
    # per run x2.00, x1.67, x2.33: the median meets x2.0, the spread straddles it
    assert ratio_row.ours == "x2.00 (x1.67-x2.33)" and ratio_row.verdict == "EDGE"


def test_burst_ratios_pair_the_ith_burst_of_each_side_and_judge_their_median(
    tmp_path: Path,
) -> None:
    from bench import delayed
    from bench.common import Config, Section

    def bursts(*p99s: float) -> delayed.Outcome:
        runs = [delayed.Outcome(due=100, delivered=100, lateness_ms=[p99] * 100) for p99 in p99s]
        return delayed.Outcome(bursts=runs)

    ours, peer = bursts(150, 200, 160), bursts(700, 700, 480)
    cfg = Config(workdir=tmp_path, burst_runs=3)
    section = Section("delayed", "d")
    delayed._burst_rows(section, ours, cfg)
    delayed._peer_rows(section, ours, peer, cfg)
    rows = {row.metric: row for row in section.rows}
    p99 = rows["  ... their lateness p99"]
    assert p99.ours == "160.0 (150.0-200.0) ms" and p99.verdict == "PASS"
    ratio = rows["burst lateness p99 vs BullMQ (theirs / ours, pairs of runs)"]
    # per pair x4.67, x3.50, x3.00: one pair meets x4, the median misses it
    assert ratio.ours == "x3.50 (x3.00-x4.67)" and ratio.verdict == "FAIL"
    assert ratio.baseline == "160.0 ms / 700.0 ms"
    ours.bursts[1].delivered = 99  # a lost job fails the burst, and its pair drops out
    section = Section("delayed", "d")
    delayed._burst_rows(section, ours, cfg)
    delayed._peer_rows(section, ours, peer, cfg)
    rows = {row.metric: row for row in section.rows}
    assert rows["  ... their lateness p99"].verdict == "FAIL"
    assert rows["burst lateness p99 vs BullMQ (theirs / ours, pairs of runs)"].ours == (
        "x3.83 (x3.00-x4.67)"
    )


def test_the_one_at_a_time_verdict_is_on_the_median_of_its_runs(tmp_path: Path) -> None:
    from bench import delayed
    from bench.common import Config, Section

    runs = [
        delayed.Outcome(due=100, delivered=100, lateness_ms=[p99] * 100) for p99 in (90, 140, 60)
    ]
    ours = delayed.Outcome(trickles=runs, trickle_s=[0.5, 0.6, 0.4])
    cfg = Config(workdir=tmp_path, burst_runs=3, delayed_due=100)
    section = Section("delayed", "d")
    delayed._trickle_rows(section, ours, None, cfg, lambda text: text)
    rows = {row.metric: row for row in section.rows}
    delivered = rows[
        "100 scheduled one at a time over 0.40-0.60 s, each due 2 s later, 3 runs: delivered"
    ]
    assert delivered.ours == "300/300" and delivered.verdict == "PASS"
    # one run misses 100 ms, the median (90 ms) meets it: at the edge, met
    p99 = rows["  ... their lateness p99"]
    assert p99.ours == "90.0 (60.0-140.0) ms" and p99.verdict == "EDGE"
    assert "one-at-a-time p99 per run, in order: 90.0 ms, 140.0 ms, 60.0 ms" in section.notes[-1]
    runs[2].delivered = 99  # a lost job fails the figure, whatever the lateness
    section = Section("delayed", "d")
    delayed._trickle_rows(section, ours, None, cfg, lambda text: text)
    assert {row.metric: row for row in section.rows}["  ... their lateness p99"].verdict == "FAIL"
