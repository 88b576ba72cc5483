"""Benchmark ``reload``: ``qs dev``'s hot reload, from an edit to a 200 on the route it adds.

``qs dev`` runs (embedded Redis, its three children) in a copy of the project, so that its
``serverless.yml`` is ours to edit. Each of ``reload_n`` edits appends a function on a new path
once the previous reload has finished; one figure is the time from the write to the first 200 on
that path (polled every 10 ms). ``qs dev``'s own figure (change seen to new gateway serving) is
reported beside it. Target (issue 12 §8): a median of at most 1 s.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from bench.common import ROOT, Config, Section, _strip_service_settings, num, say, verdict
from local.embedded_redis import free_port

NAME = "reload"
#: The target median, in seconds.
TARGET_S = 1.0
#: Longest wait for one reload (or the start) before the run is abandoned, in seconds.
WAIT_S = 60.0


def copy_project(dest: Path) -> Path:
    """The code and ``serverless.yml`` (``functions:`` last, so that appending adds one)."""
    for folder in ("functions", "shared", "local"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    doc = yaml.safe_load((ROOT / "serverless.yml").read_text())
    functions = doc.pop("functions")
    text = yaml.safe_dump(doc, sort_keys=False) + yaml.safe_dump({"functions": functions})
    (dest / "serverless.yml").write_text(text)
    return dest


def _wait(what: str, condition: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not seen within {WAIT_S} s (log: {log})")
        time.sleep(0.01)


def run(cfg: Config) -> Section:
    section = Section(NAME, f"qs dev hot reload: edit of serverless.yml to a 200, {cfg.reload_n}x")
    project = copy_project(cfg.workdir / "reload-project")
    log = cfg.workdir / "reload-qs-dev.log"
    port = free_port()
    env = _strip_service_settings(dict(os.environ)) | {"PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        dev = subprocess.Popen(
            [sys.executable, "-m", "local.cli", "dev", "--port", str(port)],
            cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def output() -> str:
        return log.read_text(errors="replace")

    def settled() -> bool:
        text = output()
        done = text.count("reloaded: ") + text.count("the running version keeps serving: ")
        return "| up after " in text and done >= text.count("reloading: ")

    def served(path: str) -> bool:
        try:
            return httpx.get(url + path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    figures: list[float] = []
    try:
        _wait("qs dev up", settled, log)
        manifest = project / "serverless.yml"
        for i in range(cfg.reload_n):
            _wait("the previous reload done", settled, log)
            path = f"/api/reload-{i}"
            started = time.monotonic()
            with manifest.open("a") as file:
                file.write(
                    f"  reload-{i}:\n    handler: functions/api/health.handler\n"
                    f'    events:\n      - httpApi: "GET {path}"\n'
                )
            _wait(f"200 on {path}", functools.partial(served, path), log)
            figures.append(time.monotonic() - started)
            say(NAME, f"reload {i + 1}: {figures[-1]:.2f} s")
        _wait("the last reload done", settled, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            dev.send_signal(signal.SIGINT)  # qs dev stops its children and Redis
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
    own = [float(s) for s in re.findall(r"reloaded: gateway serving after ([\d.]+) s", output())]
    median = statistics.median(figures)
    section.add(
        "edit to a 200, median (max)",
        f"{num(median, 2, 's')} ({num(max(figures), 2, 's')})",
        "",
        f"<= {TARGET_S:.0f} s",
        verdict(median <= TARGET_S),
    )
    if own:
        own_median = num(statistics.median(own), 2, "s")
        section.add("change seen to new gateway serving, median", own_median)
    section.notes.append("figures: " + ", ".join(f"{f:.2f}" for f in figures) + " s")
    return section
