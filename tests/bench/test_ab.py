"""``bench.ab``: the rotation of interleaved rounds, per-round gains and the keep rule."""

from __future__ import annotations

import math

import pytest

from bench import ab


def test_each_round_starts_with_the_next_variant():
    variants = ["a", "b", "c"]
    orders = [ab.rotated(variants, r) for r in range(4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    assert ab.rotated(("x", "y"), 1) == ["y", "x"]


def test_a_gain_is_ours_over_the_best_library_of_the_same_round():
    ours = [1_200.0, 1_000.0]
    httpx, urllib3 = [500.0, 900.0], [1_000.0, 400.0]
    assert ab.gains(ours, [httpx, urllib3]) == pytest.approx([0.2, 1_000 / 900 - 1])
    assert ab.keeps(ab.gains([1_200.0], [[1_000.0]])), "exactly +20 % keeps, float or not"


def test_for_lower_is_better_figures_a_positive_gain_still_means_ours_is_better():
    cpu_ours, cpu_theirs = [50.0], [300.0]
    assert ab.gains(cpu_ours, [cpu_theirs], lower_is_better=True) == [5.0]
    assert ab.gains([400.0], [[300.0]], lower_is_better=True)[0] < 0


def test_a_round_missing_a_figure_counts_as_no_gain_rather_than_a_made_up_one():
    gains = ab.gains([math.nan, 100.0], [[50.0, math.nan]])
    assert math.isnan(gains[0]) and math.isnan(gains[1])
    assert ab.keeps(gains) is None and ab.gain_text(gains) == "n/a"


def test_a_part_is_kept_only_when_the_median_gain_reaches_twenty_percent():
    assert ab.keeps([0.1, 0.25, 0.3]) is True
    assert ab.keeps([0.19, 0.5, 0.0]) is False
    assert ab.gain_text([0.1, 0.25, 0.3]) == "+25% (+10% to +30%)"


def test_spread_is_the_median_and_range_of_the_finite_values():
    assert ab.spread([3_000.0, 1_000.0, 2_000.0, math.nan]) == "2,000 (1,000-3,000)"
    assert ab.spread([1.25, 2.5], 1) == "1.9 (1.2-2.5)"
    assert ab.spread([]) == "n/a"
