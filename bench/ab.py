"""Same-run A/B tests of a hand-written part against the library it replaces (issue 15).

The rule: a hand-written part stays only where its same-run gain over the best library is at
least ``KEEP_GAIN`` (20 %). Variants run interleaved, round by round, each round in a rotated
order, so other load on the machine hits every variant alike; the gain is taken per round
(ours over the best library of that round) and judged on the median of the rounds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from bench.common import num

#: Least same-run gain (ours / best library - 1, median of the rounds) that keeps a part.
KEEP_GAIN = 0.20


def rotated(variants: Sequence[str], round_index: int) -> list[str]:
    """``variants`` starting at the ``round_index``-th (mod their number): each variant runs
    first in some round, and after each other variant as often as before it over a full
    cycle of rounds."""
    shift = round_index % len(variants)
    return [*variants[shift:], *variants[:shift]]


def finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def median(values: Sequence[float]) -> float:
    """The median of the finite ``values``; NaN when there is none."""
    values = finite(values)
    return statistics.median(values) if values else math.nan


def spread(values: Sequence[float], digits: int = 0) -> str:
    """``median (min-max)`` of the finite ``values``; ``n/a`` when there is none."""
    values = finite(values)
    if not values:
        return "n/a"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{num(mid, digits)} ({num(low, digits)}-{num(high, digits)})"


def gains(
    ours: Sequence[float], others: Sequence[Sequence[float]], *, lower_is_better: bool = False
) -> list[float]:
    """Per round: ours over the best of ``others`` that round, minus 1 (``lower_is_better``:
    the best other over ours, minus 1, so a positive gain always means ours is better); NaN
    for a round where a figure is missing."""
    result = []
    for i, mine in enumerate(ours):
        theirs = finite([values[i] for values in others if i < len(values)])
        if math.isnan(mine) or not theirs or mine <= 0:
            result.append(math.nan)
        elif lower_is_better:
            result.append(min(theirs) / mine - 1)
        else:
            result.append(mine / max(theirs) - 1)
    return result


def gain_text(values: Sequence[float]) -> str:
    """``+312 % (+250 %-+380 %)``: the median gain and its range over the rounds."""
    values = finite(values)
    if not values:
        return "n/a"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:+.0%} ({low:+.0%} to {high:+.0%})"


def keeps(values: Sequence[float]) -> bool | None:
    """Whether the median gain meets ``KEEP_GAIN``; None without a figure."""
    mid = median(values)
    return None if math.isnan(mid) else mid >= KEEP_GAIN - 1e-9  # 1.2 / 1.0 - 1 < 0.2
