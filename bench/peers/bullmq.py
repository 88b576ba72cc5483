"""The Fastify + BullMQ peer (``bench/peers/bullmq/peer.js``): install check, argv, children.

The peer runs on its own throw-away Redis started like ours (``embedded_redis``: the same
server build and settings), against the same receiver process kind, under the same load.
When node or npm is missing, or ``npm ci`` fails, :func:`unavailable` says why and the
benchmarks write that reason as a note instead of the peer's figures (never an error).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Section,
    median_of,
    num,
    service_env,
    spread_text,
    spread_verdict,
)

#: The Node project: package.json and package-lock.json pinned, node_modules git-ignored.
DIR = ROOT / "bench" / "peers" / "bullmq"
SCRIPT = DIR / "peer.js"
#: BullMQ key prefix of the peer (its Redis is its own; the prefix only names its keys).
PREFIX = "qsbench-peer"
#: Worker concurrency, as the issue fixes it for both sides.
CONCURRENCY = 50
#: Seconds ``npm ci`` may take.
INSTALL_TIMEOUT_S = 300.0
#: Label of the peer's column entries.
LABEL = "Fastify + BullMQ"

_install_failure: list[str] = []  #: the reason, once ``npm ci`` failed in this process


def node_argv(mode: str, *args: object, node: str = "node") -> list[str]:
    """argv of one peer process: ``node peer.js <mode> <args...>``."""
    if mode not in {"api", "worker", "fill", "burst", "bulk"}:
        raise ValueError(f"unknown peer mode {mode!r}")
    return [node, str(SCRIPT), mode, *(str(a) for a in args)]


def peer_env(
    base: dict[str, str], redis_url: str, receiver_url: str, port: int | None = None
) -> dict[str, str]:
    """The peer's environment: ``base`` (ours, from ``service_env``) with its Redis, prefix,
    receiver, worker concurrency and, for the API, its port."""
    env = {**base, "REDIS_URL": redis_url, "PEER_PREFIX": PREFIX, "SMS_API_URL": receiver_url}
    env["PEER_CONCURRENCY"] = str(CONCURRENCY)
    env["NODE_ENV"] = "production"
    if port is not None:
        env["PORT"] = str(port)
    return env


def env_for(redis_url: str, receiver_url: str, port: int | None = None) -> dict[str, str]:
    """:func:`peer_env` over the environment our service children get."""
    return peer_env(service_env(redis_url, receiver_url), redis_url, receiver_url, port)


def _installed(folder: Path) -> bool:
    """True when ``npm ci`` ran since package-lock.json last changed."""
    marker, lock = folder / "node_modules" / ".package-lock.json", folder / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


def unavailable(which: Any = shutil.which, folder: Path = DIR, install: bool = True) -> str | None:
    """Why the peer cannot run here (a sentence for the section notes), or None when it can.

    Runs ``npm ci`` once when node_modules is missing or older than the lock file."""
    if which("node") is None:
        return f"node is not installed: no same-run {LABEL} figures (install Node 20 and npm)"
    if which("npm") is None:
        return f"npm is not installed: no same-run {LABEL} figures"
    if _installed(folder):
        return None
    if _install_failure:
        return _install_failure[0]
    if not install:
        return f"{folder}/node_modules is missing (`make bench` runs `npm ci` there)"
    try:
        done = subprocess.run(
            [which("npm"), "ci", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _install_failure.append(f"`npm ci` in {folder} failed ({exc}): {LABEL} skipped")
        return _install_failure[0]
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        _install_failure.append(f"`npm ci` in {folder} failed ({tail[0][:200]}): {LABEL} skipped")
        return _install_failure[0]
    return None


def run_once(argv: list[str], env: dict[str, str], log: Path, timeout_s: float) -> dict[str, Any]:
    """Run a one-shot peer mode (``fill``/``burst``) to its end; its one JSON output line."""
    done = subprocess.run(
        argv, cwd=DIR, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    with log.open("a") as f:
        f.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:])} exited {done.returncode}; see {log}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def ratio(ours: float | None, peer: float | None, *, lower_is_better: bool = False) -> float | None:
    """How many times better ours is: ours / peer (peer / ours for lateness and such);
    None when either side has no figure or the divisor is 0."""
    if ours is None or peer is None:
        return None
    top, bottom = (peer, ours) if lower_is_better else (ours, peer)
    return top / bottom if bottom > 0 else None


def add_ratio_row(
    section: Section,
    metric: str,
    ours: Sequence[float | None],
    theirs: Sequence[float | None],
    target: float,
    *,
    lower_is_better: bool = False,
    unit: str = "",
) -> tuple[str, int]:
    """The row of the runs' ratios ours / theirs (theirs / ours when ``lower_is_better``;
    ``ours[i]`` paired with ``theirs[i]``; a pair missing a figure is left out): median
    (min-max), both medians (in ``unit``), ``target`` and the verdict on the median. Returns
    (the verdict's word, the number of pairs)."""
    pairs = zip(ours, theirs, strict=True)
    ratios = [ratio(o, t, lower_is_better=lower_is_better) for o, t in pairs]
    paired = [r for r in ratios if r is not None]
    cell, word = spread_verdict(paired, target)
    digits = 1 if unit else 0
    section.add(
        metric,
        spread_text(paired, 2, "", prefix="x"),
        f"{num(median_of(ours), digits, unit)} / {num(median_of(theirs), digits, unit)}",
        f">= x{target:.2f}",
        cell,
    )
    return word, len(paired)


def ratio_text(value: float | None) -> str:
    """``x1.23``, or ``n/a``."""
    return "n/a" if value is None else f"x{value:.2f}"
