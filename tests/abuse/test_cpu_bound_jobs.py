"""CPU-bound AI processors: every offline pattern runs in linear time on adversarial text, and
an offline task runs in a child process with a hard limit, so the worker's threads keep going."""

from __future__ import annotations

import re
import threading
import time

import pytest

from shared.ai import AIError, run_task
from shared.ai.isolation import IsolatedTimeout, run_isolated
from shared.ai.local_provider import LocalProvider
from shared.ai.offline import extract, sentiment, text
from shared.ai.options import ExtractOptions
from shared.ai.prompts import _FENCED, json_object

#: Each offline pattern, by name.
PATTERNS: dict[str, re.Pattern[str]] = {
    **{f"extract.{kind}": pattern for kind, pattern in extract.PATTERNS.items()},
    "text.WORD": text.WORD,
    "text.sentence_end": text._SENTENCE_END,
    "sentiment.token": sentiment._TOKEN,
    "prompts.fenced": _FENCED,
}
SIZE = 100_000
#: Inputs of about 100 KB built to make a backtracking pattern rescan long runs.
ADVERSARIAL = {
    "a.": "a." * (SIZE // 2),
    "a.a@ runs": ("a." * 30 + "@") * (SIZE // 61),
    "x@a. domains": ("x@" + "a." * 30) * (SIZE // 62),
    "a@ then a-": "a@" + "a-" * (SIZE // 2) + ".c",
    "digits": "1" * SIZE,
    "1,000,": "1" + ",000" * (SIZE // 4),
    "1.1.": "1" + ".1" * (SIZE // 2) + "x",
    "$1,000,": "$1" + ",000" * (SIZE // 4) + "x",
    "dots then x": "." * SIZE + "x",
    "!? then x": "!?" * (SIZE // 2) + "x",
    ".) then x": "." * (SIZE // 2) + ")" * (SIZE // 2) + "x",
    "1 then ( then 1a": "1" + "(" * SIZE + "1a",
    "(1": "(1" * (SIZE // 2) + "a",
    "a'": "a'" * (SIZE // 2) + "a",
    "blank lines": "\n " * (SIZE // 2),
    "list items": "\n1) " * (SIZE // 4),
    "fence with a long gap": "```a" + " " * SIZE + "b```x",
    "fence of newlines": "```" + "\n" * SIZE + "x",
}
#: Seconds any one pattern may take on any one 100 KB input (quadratic ones took 10-80 s).
PATTERN_LIMIT_S = 0.5


@pytest.mark.parametrize("name", PATTERNS)
def test_every_offline_pattern_runs_in_linear_time_on_adversarial_text(name: str):
    pattern = PATTERNS[name]
    for label, sample in ADVERSARIAL.items():
        started = time.perf_counter()
        for _ in pattern.finditer(sample):
            pass
        elapsed = time.perf_counter() - started
        assert elapsed < PATTERN_LIMIT_S, f"{name} took {elapsed:.2f} s on {label!r}"


def test_extracting_from_100_kb_of_a_dot_takes_well_under_a_second():
    started = time.perf_counter()
    found = extract.extract("a." * 51_200)
    assert time.perf_counter() - started < 1.0
    assert found["emails"] == []


def test_linear_patterns_still_find_what_they_found():
    found = extract.extract("Mail .jo.x+y@mail.example.com or 1,250 usd, (+1) 415-555-0100.")
    assert found["emails"] == ["jo.x+y@mail.example.com"]
    assert found["amounts"] == ["1,250 usd"]
    assert text.sentences("Stop!!! Go... now. Dr. Who.") == ["Stop!!!", "Go...", "now.", "Dr. Who."]
    assert json_object('```json\n  {"a": 1}  \n```') == {"a": 1}


# --- A slow task runs in a child process, killed at its limit -----------------------------------

#: The e-mail pattern before the fix: quadratic on "a." runs (54 s on 100 KB), all of it in C
#: with the GIL held. A test-only task, never run by the service.
_QUADRATIC = re.compile(r"\b[\w.%+-]+@(?:[a-z0-9-]+\.)+[a-z]{2,63}\b", re.I)


def quadratic_regex(size: int) -> int:
    """Minutes of GIL-holding C code for ``size`` of 100,000."""
    return len(_QUADRATIC.findall("a." * (size // 2)))


class Ticker:
    """A plain thread that ticks every 10 ms; records the longest gap between ticks."""

    def __init__(self) -> None:
        self.ticks = 0
        self.longest_gap_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.wait(0.01):
            now = time.perf_counter()
            self.ticks += 1
            self.longest_gap_s = max(self.longest_gap_s, now - last)
            last = now

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_gil_holding_task_leaves_the_workers_threads_ticking_and_is_killed_at_its_limit():
    run_isolated(len, "warm up", limit_s=30)  # the child's start is not what is measured
    limit_s = 2.0
    started = time.perf_counter()
    with Ticker() as ticker, pytest.raises(IsolatedTimeout):
        run_isolated(quadratic_regex, SIZE, limit_s=limit_s)
    elapsed = time.perf_counter() - started
    assert limit_s <= elapsed < limit_s + 3, "the hard limit fired on time"
    assert ticker.longest_gap_s < 0.25, f"a thread waited {ticker.longest_gap_s:.2f} s"
    assert ticker.ticks >= 0.6 * elapsed / 0.01, f"{ticker.ticks} ticks in {elapsed:.1f} s"
    assert run_isolated(len, "next", limit_s=30) == 4, "a fresh child serves the next call"


def test_a_childs_exception_is_raised_in_the_caller():
    with pytest.raises(ValueError, match="invalid literal"):
        run_isolated(int, "not a number", limit_s=30)


def test_an_offline_task_past_its_limit_fails_for_good():
    provider = LocalProvider(limit_s=0.05)
    with pytest.raises(AIError) as failed:
        provider.complete("word " * 400_000, ExtractOptions())  # 2 MB: linear, but not 50 ms
    assert failed.value.retryable is False
    assert "extract" in failed.value.message and "stopped" in failed.value.message


def test_the_extract_job_on_100_kb_of_a_dot_completes_off_the_workers_gil():
    with Ticker() as ticker:
        completion = run_task("extract", "a." * 51_200, {}, budget_s=40)
    assert completion.output["emails"] == [] and completion.provider == "local"
    assert ticker.longest_gap_s < 0.25
