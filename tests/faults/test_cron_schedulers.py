"""Two schedulers fire the same cron ticks and one is SIGKILLed mid-tick: every tick is
enqueued, none twice (the claim and the message are written in one step)."""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from pathlib import Path

import pendulum
import pytest

from local import manifest
from local.cron import cron_jobs
from tests.faults.harness import Reaper, RedisServer, Service, kill_group, wait_until

FIRER = Path(__file__).with_name("cron_firer.py")
#: Ticks per round, a minute apart (fired as fast as Redis answers, well under a second).
TICKS = 3000
ROUNDS = 5
#: The first tick of the first round: a whole minute, long past (no worker runs them).
FIRST_S = 1_700_000_040


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def fire_round(
    reaper: Reaper, service: Service, folder: Path, first_s: int, rng: random.Random
) -> int:
    """Two firers over the same ticks; one SIGKILLed at a random tick. The tick it was at."""
    go = folder / "go"
    logs = [folder / f"firer-{i}.log" for i in (0, 1)]
    firers = [
        reaper.spawn(
            log.stem, [sys.executable, str(FIRER), str(first_s), str(TICKS), str(go)], log,
            env=service.env, cwd=folder,
        )
        for log in logs
    ]  # fmt: skip
    wait_until(lambda: all("ready" in lines(log) for log in logs), 20, "both firers loaded")
    victim, target = rng.randrange(2), rng.randrange(TICKS // 10, TICKS // 3)
    go.touch()
    wait_until(lambda: len(lines(logs[victim])) > target, 20, "the victim firing", every_s=0.001)
    assert firers[victim].poll() is None, "the victim was still firing when killed"
    kill_group(firers[victim])
    survivor = firers[1 - victim]
    assert survivor.wait(timeout=30) == 0, lines(logs[1 - victim])[-5:]
    return len(lines(logs[victim])) - 1


@pytest.mark.timeout(120)
def test_two_schedulers_one_sigkilled_mid_tick_enqueue_every_tick_exactly_once(
    reaper: Reaper, tmp_path: Path, redis_server: RedisServer
):
    service = Service(reaper, tmp_path, redis_server, "http://127.0.0.1:9")
    rng = random.Random()
    killed_at = []
    for n in range(ROUNDS):
        folder = tmp_path / f"round-{n}"
        folder.mkdir()
        killed_at.append(fire_round(reaper, service, folder, FIRST_S + n * TICKS * 60, rng))

    jobs = cron_jobs(manifest.load())
    assert {job.function.name for job in jobs} >= {
        "health-check",
        "process-scheduled-messages",
        "retention",
    }, "serverless.yml's cron functions are the ones fired"
    expected = Counter(
        (job.actor_name, str(tick))
        for tick in (
            pendulum.from_timestamp(FIRST_S, tz="UTC").add(minutes=m) for m in range(ROUNDS * TICKS)
        )
        for job in jobs
        if job.spec.validate(tick)
    )
    client = redis_server.client()
    cron = f"{service.prefix}:{{cron}}"  # the cron queue's keys (shared/jobs/lua/_lib.lua)
    queued = Counter(client.lrange(f"{cron}:mq", 0, -1))
    messages = {i: json.loads(m) for i, m in client.hgetall(f"{cron}:mq:msgs").items()}
    fired = Counter(
        (messages[i]["actor_name"], messages[i]["options"]["scheduled_at"])
        for i, times in queued.items()
        for _ in range(times)
        if i in messages
    )
    missing = expected - fired
    twice = {tick: times for tick, times in fired.items() if times > 1}
    print(
        f"cron: {ROUNDS} rounds of {TICKS} ticks, victims killed after ticks {killed_at}: "
        f"{sum(fired.values())} enqueued of {sum(expected.values())}, {len(missing)} missing, "
        f"{len(twice)} twice"
    )
    assert not missing, f"ticks never enqueued: {sorted(missing)[:5]}"
    assert not twice, f"ticks enqueued twice: {sorted(twice)[:5]}"
    assert fired == expected
    assert all(times == 1 for times in queued.values()), "a message id queued twice"
    assert len(queued) == len(messages), "every message queued has its body, and no other"
    for actor, scheduled_at in expected:
        tick = pendulum.parse(scheduled_at)
        claim = f"{cron}:tick:{actor}:{tick.format('YYYY-MM-DDTHH:mm')}"  # type: ignore[union-attr]
        assert client.get(claim) in queued, f"claim {claim} names the message it queued"
