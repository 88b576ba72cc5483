"""Admission limits against real Redis: exact under concurrency, sliding, all-or-nothing."""

from __future__ import annotations

import threading

import pytest

from shared.http.problems import Problem
from shared.http.ratelimit import Limit, admit, enforce
from tests.conftest import wait_for

PER_CONTACT = Limit("contact", max=5, window_ms=60_000)
PER_WORKSPACE = Limit("workspace", max=100, window_ms=60_000)


def test_exactly_the_limit_is_admitted_among_200_concurrent_requests(redis_prefix):
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def client() -> None:
        start.wait()
        for _ in range(10):
            decision = admit([(PER_WORKSPACE, "w1"), (PER_CONTACT, "c1")])
            with lock:
                results.append(decision.admitted)

    threads = [threading.Thread(target=client) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 200 and results.count(True) == 5


def test_a_refusal_says_how_long_until_a_slot_frees_and_counts_against_nothing(redis_prefix):
    for _ in range(5):
        assert admit([(PER_WORKSPACE, "w1"), (PER_CONTACT, "c1")]).admitted
    refused = admit([(PER_WORKSPACE, "w1"), (PER_CONTACT, "c1")])
    assert not refused.admitted and 59_000 < refused.retry_after_ms <= 60_000
    for contact in range(95):  # the workspace still has exactly 95 slots: refusals cost nothing
        assert admit([(PER_WORKSPACE, "w1"), (PER_CONTACT, f"other-{contact}")]).admitted
    assert not admit([(PER_WORKSPACE, "w1"), (PER_CONTACT, "fresh")]).admitted


def test_the_window_slides(redis_prefix):
    fast = Limit("fast", max=2, window_ms=300)
    assert admit([(fast, "k")]).admitted and admit([(fast, "k")]).admitted
    assert not admit([(fast, "k")]).admitted
    wait_for(lambda: admit([(fast, "k")]).admitted, timeout_s=2, what="a slot after 300 ms")


def test_enforce_raises_a_429_problem_with_retry_after(redis_prefix):
    one = Limit("one", max=1, window_ms=10_000)
    enforce([(one, "x")])
    with pytest.raises(Problem) as refused:
        enforce([(one, "x")])
    problem = refused.value
    assert problem.status == 429 and problem.headers["retry-after"] == "10"
    assert "one (1 per 10 s)" in (problem.detail or "")
