"""The scheduler's look before promoting (``lua/due_look.lua``): a queue with nothing to do is
not sent ``promote_due.lua``, and the look reports what that script would have."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import shared.jobs.store as store_module
from shared.jobs.store import JobStore, NewJob, Promotion
from shared.settings import settings

AHEAD_MS = 200
QUEUES = ["sms", "email"]


def job(queue: str, due_ms: int) -> NewJob:
    return NewJob(queue=queue, actor=queue, data={"m": 1}, due_ms=due_ms, max_attempts=3)


def empty(store: JobStore, now: int) -> int:
    return now


def due_in_an_hour(store: JobStore, now: int) -> int:
    store.create(job("sms", now + 3_600_000), at_ms=now)
    return now


def due_within_the_staging_window(store: JobStore, now: int) -> int:
    store.create(job("sms", now + 100), at_ms=now)
    return now


def due_already(store: JobStore, now: int) -> int:
    store.create(job("sms", now + 5), at_ms=now)
    return now + 10


def held_message_due(store: JobStore, now: int) -> int:
    store.create(job("sms", now + 100), at_ms=now)
    store.promote_due_many(["sms"], at_ms=now, ahead_ms=AHEAD_MS)  # staged, held until +100
    return now + 100


def held_message_later(store: JobStore, now: int) -> int:
    held_message_due(store, now)
    store.create(job("email", now + 90_000), at_ms=now)
    return now + 40


def ready_in_a_paused_queue(store: JobStore, now: int) -> int:
    store.pause("sms")
    store.create(job("sms", now), at_ms=now)  # in its ready line, not dispatched
    return now


#: Each state, and whether the script still runs there (on sms; email is idle in all of them).
STATES: list[tuple[Callable[[JobStore, int], int], bool]] = [
    (empty, False),
    (due_in_an_hour, False),
    (due_within_the_staging_window, True),
    (due_already, True),
    (held_message_due, True),
    (held_message_later, False),
    (ready_in_a_paused_queue, True),
]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queues ``promote_due.lua`` is run on, as the store calls it."""
    runs: list[str] = []
    real = store_module._script

    def counting(name: str, shebang: bool) -> Any:
        script = real(name, shebang)
        if name != "promote_due":
            return script

        def call(*, keys: list[str], args: list[Any], client: Any) -> Any:
            runs.append(args[0])
            return script(keys=keys, args=args, client=client)

        return call

    monkeypatch.setattr(store_module, "_script", counting)
    return runs


@pytest.mark.parametrize(("make", "runs_script"), STATES, ids=[s[0].__name__ for s in STATES])
def test_the_look_skips_only_queues_with_nothing_to_do_and_reports_what_the_script_would(
    redis_prefix: str,
    unlimited: None,
    monkeypatch: pytest.MonkeyPatch,
    counted: list[str],
    make: Callable[[JobStore, int], int],
    runs_script: bool,
) -> None:
    now = 1_900_000_000_000

    real_look = JobStore._idle_of

    def promoted(prefix: str, *, look: bool) -> list[Promotion]:
        monkeypatch.setattr(settings, "redis_prefix", prefix)
        store = JobStore()
        at = make(store, now)
        counted.clear()
        monkeypatch.setattr(JobStore, "_idle_of", real_look if look else lambda *a, **k: {})
        return store.promote_due_many(QUEUES, at_ms=at, ahead_ms=AHEAD_MS, group_ms=2)

    by_script = promoted(f"{redis_prefix}:script", look=False)
    assert counted == QUEUES, "without the look, every queue gets the script"
    by_look = promoted(f"{redis_prefix}:look", look=True)
    assert counted == (["sms"] if runs_script else [])
    assert by_look == by_script


def test_an_idle_queue_reports_its_next_due_time_exactly(redis_prefix: str, unlimited: None):
    store = JobStore()
    now = 1_900_000_000_000
    store.create(job("sms", now + 12_345), at_ms=now)
    assert store.promote_due_many(QUEUES, at_ms=now, ahead_ms=AHEAD_MS) == [
        Promotion(0, 12_345),
        Promotion(0, None),
    ]
