"""Retry back-off: exponential or fixed, jittered, capped, and never shorter than Retry-After."""

from __future__ import annotations

import pytest

from shared.jobs.retry import MAX_DELAY_MS, BackoffKind, backoff_ms, next_retry_delay_ms


def test_exponential_backoff_doubles_per_attempt_and_fixed_stays_put() -> None:
    def exact(attempt: int, kind: BackoffKind) -> int:
        return backoff_ms(attempt, kind=kind, delay_ms=1000, rng=lambda: 0.5)

    assert [exact(n, "exponential") for n in (1, 2, 3, 4)] == [1000, 2000, 4000, 8000]
    assert [exact(n, "fixed") for n in (1, 2, 3, 4)] == [1000] * 4


def test_jitter_stays_within_its_fraction_either_way() -> None:
    low = backoff_ms(3, kind="exponential", delay_ms=1000, jitter=0.2, rng=lambda: 0.0)
    high = backoff_ms(3, kind="exponential", delay_ms=1000, jitter=0.2, rng=lambda: 1.0)
    assert (low, high) == (3200, 4800)
    for _ in range(200):
        assert 800 <= backoff_ms(1, kind="fixed", delay_ms=1000) <= 1200


def test_backoff_is_capped_at_one_hour() -> None:
    assert backoff_ms(200, kind="exponential", delay_ms=1000, rng=lambda: 1.0) == MAX_DELAY_MS
    assert backoff_ms(1, kind="fixed", delay_ms=10 * MAX_DELAY_MS) <= MAX_DELAY_MS


def test_backoff_rejects_a_zero_attempt_or_unknown_kind() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        backoff_ms(0, kind="fixed", delay_ms=1000)
    with pytest.raises(ValueError, match="kind"):
        backoff_ms(1, kind="linear", delay_ms=1000)  # type: ignore[arg-type]


def test_next_retry_delay_waits_for_a_longer_retry_after() -> None:
    assert next_retry_delay_ms(1, "fixed", 1000, 90.5) == 90_500
    assert 800 <= next_retry_delay_ms(1, "fixed", 1000, 0.1) <= 1200
